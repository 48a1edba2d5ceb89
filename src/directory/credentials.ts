import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../storage/database.js';
import { FROM_DIRECTORY, NOT_CACHED, type ReadCache } from '../storage/read-cache.js';
import { preparedQuery } from '../storage/prepared.js';
import { DEFAULT_DELEGATED_SCOPES, storedScopes, type GraphScope } from './scopes.js';
import { USER_COLUMNS, toUser, type DirectoryUser } from './users.js';

// Bearer tokens and session ids are random secrets; only their SHA-256 is stored, so a copy of
// the database does not let anyone sign in.

const digest = (secret: string) => createHash('sha256').update(secret).digest('hex');
const newSecret = (prefix: string) => `${prefix}${randomBytes(32).toString('base64url')}`;

// Run on every authenticated request, so compiled once (see preparedQuery).
const tokenGrant = preparedQuery(1, (db, tokenHash: string) =>
  db
    .selectFrom('directory_tokens as t')
    .innerJoin('directory_users as u', 'u.id', 't.user_id')
    .select(['t.expires_at', 't.scopes', ...USER_COLUMNS.map((c) => `u.${c}` as const)])
    .where('t.token_hash', '=', tokenHash),
);
const sessionUser = preparedQuery(1, (db, idHash: string) =>
  db
    .selectFrom('directory_sessions as s')
    .innerJoin('directory_users as u', 'u.id', 's.user_id')
    .select(['s.expires_at', ...USER_COLUMNS.map((c) => `u.${c}` as const)])
    .where('s.id_hash', '=', idHash),
);

/** How long an opaque token lives unless told otherwise. */
export const TOKEN_LIFETIME_MS = 90 * 24 * 60 * 60_000;

export async function createToken(
  db: Db,
  userId: string,
  label: string,
  lifetimeMs: number = TOKEN_LIFETIME_MS,
  scopes?: readonly GraphScope[],
): Promise<string> {
  const token = newSecret('pst_');
  const now = Date.now();
  await db
    .insertInto('directory_tokens')
    .values({
      token_hash: digest(token),
      user_id: userId,
      label,
      created_at: now,
      expires_at: now + lifetimeMs,
      scopes: scopes === undefined ? null : scopes.join(' '),
    })
    .execute();
  return token;
}

export async function userForToken(db: Db, token: string): Promise<DirectoryUser | undefined> {
  return (await grantForToken(db, token))?.user;
}

/** What a token grants: its user and the scopes it was created with. */
export interface TokenGrant {
  user: DirectoryUser;
  scopes: ReadonlySet<GraphScope>;
}

/** Until when a credential holds (its expiry; Infinity for a token that never expires), if nothing changes. */
export interface Until {
  until: number;
}

interface StoredGrant extends TokenGrant, Until {
  enabled: boolean;
}

async function loadGrant(db: Db, token: string): Promise<StoredGrant | undefined> {
  const [row] = await tokenGrant(db, digest(token));
  return (
    row && {
      user: toUser(row),
      scopes: new Set(storedScopes(row.scopes, DEFAULT_DELEGATED_SCOPES)),
      until: row.expires_at ?? Infinity,
      enabled: row.enabled === 1,
    }
  );
}

/** The token's grant; undefined when unknown, expired or its user disabled. */
export async function grantForToken(
  db: Db,
  token: string,
  reads?: ReadCache,
): Promise<(TokenGrant & Until) | undefined> {
  // Keyed by the token itself, so a cached use skips the hash. Expiry is judged on every use.
  return usableGrant(
    await (reads ? reads.read(tokenKey(token), () => loadGrant(db, token), FROM_DIRECTORY) : loadGrant(db, token)),
  );
}

/**
 * grantForToken's answer when the read cache has the token's row (no promise, no query), judged
 * the same way; NOT_CACHED when the row has to be read.
 */
export function cachedGrantForToken(
  token: string,
  reads: ReadCache,
): (TokenGrant & Until) | undefined | typeof NOT_CACHED {
  const stored = reads.cached<StoredGrant | undefined>(tokenKey(token));
  return stored === NOT_CACHED ? NOT_CACHED : usableGrant(stored);
}

const tokenKey = (token: string) => `token ${token}`;

function usableGrant(stored: StoredGrant | undefined): (TokenGrant & Until) | undefined {
  if (!stored || !stored.enabled || stored.until <= Date.now()) return undefined;
  return stored;
}

export async function createSession(db: Db, userId: string, lifetimeMs: number): Promise<string> {
  const sessionId = newSecret('');
  const now = Date.now();
  await db
    .insertInto('directory_sessions')
    .values({ id_hash: digest(sessionId), user_id: userId, created_at: now, expires_at: now + lifetimeMs })
    .execute();
  return sessionId;
}

async function loadSession(db: Db, sessionId: string) {
  const [row] = await sessionUser(db, digest(sessionId));
  return row && { user: toUser(row), expiresAt: row.expires_at, enabled: row.enabled === 1 };
}

export async function userForSession(db: Db, sessionId: string, reads?: ReadCache): Promise<DirectoryUser | undefined> {
  return (await sessionById(db, sessionId, reads))?.user;
}

/** The session's user and until when the session holds; undefined when unknown, ended or the user disabled. */
export async function sessionById(
  db: Db,
  sessionId: string,
  reads?: ReadCache,
): Promise<({ user: DirectoryUser } & Until) | undefined> {
  return usableSession(
    await (reads
      ? reads.read(sessionKey(sessionId), () => loadSession(db, sessionId), FROM_DIRECTORY)
      : loadSession(db, sessionId)),
  );
}

/** sessionById's answer from the read cache, judged the same way; NOT_CACHED when the row has to be read. */
export function cachedSession(
  sessionId: string,
  reads: ReadCache,
): ({ user: DirectoryUser } & Until) | undefined | typeof NOT_CACHED {
  const stored = reads.cached<StoredSession | undefined>(sessionKey(sessionId));
  return stored === NOT_CACHED ? NOT_CACHED : usableSession(stored);
}

const sessionKey = (sessionId: string) => `session ${sessionId}`;

type StoredSession = Awaited<ReturnType<typeof loadSession>>;

function usableSession(stored: StoredSession | undefined): ({ user: DirectoryUser } & Until) | undefined {
  if (!stored || !stored.enabled || stored.expiresAt <= Date.now()) return undefined;
  return { user: stored.user, until: stored.expiresAt };
}

export async function endSession(db: Db, sessionId: string): Promise<void> {
  await db.deleteFrom('directory_sessions').where('id_hash', '=', digest(sessionId)).execute();
}

/** Ends every portal session of a user; returns how many there were. */
export async function endUserSessions(db: Db, userId: string): Promise<number> {
  const result = await db.deleteFrom('directory_sessions').where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** An opaque token as `photosync token list` shows it: never the token, only its id. */
export interface TokenListing {
  /** The first characters of the token's digest: enough to name it, useless to sign in with. */
  id: string;
  upn: string;
  label: string;
  scopes: GraphScope[];
  createdAt: number;
  expiresAt: number | null;
}

const TOKEN_ID_LENGTH = 12;

/** The id `token list` names an opaque token by: never the token. */
export const tokenId = (token: string): string => digest(token).slice(0, TOKEN_ID_LENGTH);

/** The opaque tokens, of one user or everyone's, newest first; expired ones too (they are shown as such). */
export async function listTokens(db: Db, userId?: string): Promise<TokenListing[]> {
  let query = db
    .selectFrom('directory_tokens as t')
    .innerJoin('directory_users as u', 'u.id', 't.user_id')
    .select(['t.token_hash', 'u.upn', 't.label', 't.scopes', 't.created_at', 't.expires_at'])
    .orderBy('t.created_at', 'desc');
  if (userId !== undefined) query = query.where('t.user_id', '=', userId);
  const rows = await query.execute();
  return rows.map((row) => ({
    id: row.token_hash.slice(0, TOKEN_ID_LENGTH),
    upn: row.upn,
    label: row.label,
    scopes: storedScopes(row.scopes, DEFAULT_DELEGATED_SCOPES),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  }));
}

/**
 * Revokes the opaque token `token list` names by `id` (or the token itself): its id, as `token
 * list` shows it, and its user's UPN; undefined when no token has it. An id that could name more
 * than one token is refused.
 */
export async function revokeToken(db: Db, id: string): Promise<{ id: string; upn: string } | undefined> {
  const hash = id.startsWith('pst_') ? digest(id) : id.toLowerCase();
  if (!/^[0-9a-f]+$/.test(hash) || (hash.length < TOKEN_ID_LENGTH && !id.startsWith('pst_'))) return undefined;
  const matches = await db
    .selectFrom('directory_tokens as t')
    .innerJoin('directory_users as u', 'u.id', 't.user_id')
    .select(['t.token_hash', 'u.upn'])
    // Hex digits only (checked above), so the pattern has no other wildcard.
    .where('t.token_hash', 'like', `${hash}%`)
    .limit(2)
    .execute();
  const [match] = matches;
  if (matches.length !== 1 || !match) return undefined;
  const deleted = await db.deleteFrom('directory_tokens').where('token_hash', '=', match.token_hash).executeTakeFirst();
  // Revoked meanwhile by another: this call ended nothing.
  if (deleted.numDeletedRows === 0n) return undefined;
  return { id: match.token_hash.slice(0, TOKEN_ID_LENGTH), upn: match.upn };
}
