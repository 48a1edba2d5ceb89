import { COMMAND_LINE, recordAudit } from '../../admin/audit.js';
import { createToken, listTokens, revokeToken, tokenId, TOKEN_LIFETIME_MS } from '../../directory/credentials.js';
import { DEFAULT_DELEGATED_SCOPES, parseScopes } from '../../directory/scopes.js';
import { isAppError } from '../../errors.js';
import type { Services } from '../../services.js';
import type { CommandHandler } from '../command.js';
import { CliError, formatTime, table, UsageError } from '../output.js';
import { requireUser } from './users.js';

// Opaque bearer tokens (`pst_…`) for scripts acting as a user: made with a lifetime (90 days
// unless --expires says otherwise), listed by an id that is not the token, revoked by that id.

const HOUR_MS = 60 * 60_000;
const DAY_MS = 24 * HOUR_MS;
const MAX_LIFETIME_MS = 3650 * DAY_MS;

/** `30d` or `12h` → milliseconds; a usage mistake otherwise. */
export function parseLifetime(text: string): number {
  const match = /^(\d{1,5})([dh])$/.exec(text.trim());
  const ms = match ? Number(match[1]) * (match[2] === 'd' ? DAY_MS : HOUR_MS) : NaN;
  if (!(ms > 0) || ms > MAX_LIFETIME_MS) {
    throw new CliError(`--expires takes a number of days or hours, like 30d or 12h (at most 3650d); got "${text}".`, 2);
  }
  return ms;
}

function scopesFrom(text: string | undefined) {
  if (text === undefined) return undefined;
  try {
    return parseScopes(text);
  } catch (error) {
    // Its message names the scopes there are.
    if (isAppError(error)) throw new CliError(error.message, 2);
    throw error;
  }
}

export const tokenCreate: CommandHandler = async ({ args: [upn], services, option, print }) => {
  const lifetime = option('expires');
  const lifetimeMs = lifetime === undefined ? TOKEN_LIFETIME_MS : parseLifetime(lifetime);
  const scopes = scopesFrom(option('scopes'));
  const all: Services = await services();
  const user = await requireUser(all, upn);
  if (!user.enabled) {
    throw new CliError(
      `${user.upn} is disabled, so every request with a token of theirs is refused. ` +
        `Enable them first (photosync users enable ${user.upn}); no token was made.`,
    );
  }
  // Create it first: an unknown user must not get a heading for a token that never existed.
  const expiresAt = Date.now() + lifetimeMs;
  const token = await all.database.db.transaction().execute(async (trx) => {
    const made = await createToken(trx, user.id, 'cli', lifetimeMs, scopes);
    // Named by its id, as token list shows it: the token itself is shown once, here, and kept nowhere.
    await recordAudit(trx, COMMAND_LINE, 'token_created', {
      id: tokenId(made),
      upn: user.upn,
      scopes: [...(scopes ?? DEFAULT_DELEGATED_SCOPES)],
      expiresAt,
    });
    return made;
  });
  print(`Bearer token for ${user.upn}, valid until ${formatTime(expiresAt)} (keep it secret; it is shown once):`);
  print(token);
};

export const tokenList: CommandHandler = async ({ args: [upn], services, print }) => {
  const all = await services();
  const user = upn === undefined ? undefined : await requireUser(all, upn);
  const tokens = await listTokens(all.database.db, user?.id);
  if (tokens.length === 0) {
    print(`No tokens${user ? ` for ${user.upn}` : ''}. Make one with: photosync token create <upn>`);
    return;
  }
  const now = Date.now();
  print(
    table(
      ['id', 'user', 'label', 'scopes', 'created', 'expires'],
      tokens.map((t) => [
        t.id,
        t.upn,
        t.label,
        t.scopes.join(' '),
        formatTime(t.createdAt),
        t.expiresAt === null ? 'never' : `${formatTime(t.expiresAt)}${t.expiresAt <= now ? ' (expired)' : ''}`,
      ]),
    ),
  );
};

export const tokenRevoke: CommandHandler = async ({ args: [id], services, print }) => {
  if (!id) throw new UsageError('Name the token by the id `photosync token list` shows.');
  const { db } = (await services()).database;
  const revoked = await db.transaction().execute(async (trx) => {
    const ended = await revokeToken(trx, id);
    // Its id, never what was typed: that may be the token itself.
    if (ended) await recordAudit(trx, COMMAND_LINE, 'token_revoked', { id: ended.id, upn: ended.upn });
    return ended;
  });
  if (!revoked) throw new CliError(`No token has the id ${id}; see photosync token list.`);
  print(`Revoked token ${revoked.id} of ${revoked.upn}; it no longer works.`);
};
