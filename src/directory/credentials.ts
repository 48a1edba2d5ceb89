import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../storage/database.js';
import type { ReadCache } from '../storage/read-cache.js';
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

export async function createToken(
  db: Db,
  userId: string,
  label: string,
  lifetimeMs?: number,
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
      expires_at: lifetimeMs === undefined ? null : now + lifetimeMs,
      scopes: scopes === undefined ? null : scopes.join(' '),
    })
    .execute();
  return token;
}

export async function userForToken(db: Db, token: string): Promise<DirectoryUser | undefined> {
  return (await grantForToken(db, token))?.user;
}

/** The token's user and the scopes it was created with; undefined when unknown, expired or disabled. */
export async function grantForToken(
  db: Db,
  token: string,
  reads?: ReadCache,
): Promise<{ user: DirectoryUser; scopes: GraphScope[] } | undefined> {
  const load = () => tokenGrant(db, digest(token));
  // Keyed by the token itself, so a cached use skips the hash. Expiry and the enabled flag are
  // judged on every use, cached row or not.
  const [row] = await (reads ? reads.read(`token ${token}`, load) : load());
  if (!row || (row.expires_at !== null && row.expires_at <= Date.now()) || row.enabled !== 1) return undefined;
  return { user: toUser(row), scopes: storedScopes(row.scopes, DEFAULT_DELEGATED_SCOPES) };
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

export async function userForSession(db: Db, sessionId: string, reads?: ReadCache): Promise<DirectoryUser | undefined> {
  const load = () => sessionUser(db, digest(sessionId));
  const [row] = await (reads ? reads.read(`session ${sessionId}`, load) : load());
  if (!row || row.expires_at <= Date.now() || row.enabled !== 1) return undefined;
  return toUser(row);
}

export async function endSession(db: Db, sessionId: string): Promise<void> {
  await db.deleteFrom('directory_sessions').where('id_hash', '=', digest(sessionId)).execute();
}
