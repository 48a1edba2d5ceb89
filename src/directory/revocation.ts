import { invalidInput } from '../errors.js';
import type { Db } from '../storage/database.js';
import { inTransaction } from '../storage/in-transaction.js';
import { MIN_PASSWORD_LENGTH, hashPassword } from './passwords.js';
import { revokeUserRefreshTokens } from './sign-in-grants.js';
import type { DirectoryUser } from './users.js';

// Ending what a user holds: when their password changes or their account is disabled, every
// portal session, opaque token (`token create`), refresh token and authorization code goes, and
// signed access tokens issued until now are refused (`tokens_valid_from`, checked by
// verifyAccessToken). All in one transaction, so no instance sees half of it.

export interface EndedCredentials {
  sessions: number;
  tokens: number;
  refreshTokens: number;
  /** Sign-in codes issued and not yet redeemed. */
  codes: number;
}

/**
 * Signed tokens carry whole seconds (`iat`), so the line is drawn at the next whole second: every
 * token issued until now is refused, and tokens issued after it wait for that second (at most one).
 */
const nextWholeSecond = (now: number) => Math.floor(now / 1000) * 1000 + 1000;

export async function endUserCredentials(db: Db, userId: string, now = Date.now()): Promise<EndedCredentials> {
  const run = async (trx: Db) => {
    const sessions = await trx.deleteFrom('directory_sessions').where('user_id', '=', userId).executeTakeFirst();
    const tokens = await trx.deleteFrom('directory_tokens').where('user_id', '=', userId).executeTakeFirst();
    const grants = await revokeUserRefreshTokens(trx, userId, now);
    await trx
      .updateTable('directory_users')
      .set({ tokens_valid_from: nextWholeSecond(now) })
      .where('id', '=', userId)
      .execute();
    return { sessions: Number(sessions.numDeletedRows), tokens: Number(tokens.numDeletedRows), ...grants };
  };
  return inTransaction(db, run);
}

/** Since when the user's signed access tokens count (epoch ms; 0 = all of them). */
export async function tokensValidFrom(db: Db, userId: string): Promise<number> {
  const row = await db
    .selectFrom('directory_users')
    .select('tokens_valid_from')
    .where('id', '=', userId)
    .executeTakeFirst();
  return Number(row?.tokens_valid_from ?? 0);
}

/** Disables (ending everything the user holds) or enables an account; undefined when it already was. */
export async function setUserEnabled(
  db: Db,
  user: DirectoryUser,
  enabled: boolean,
): Promise<EndedCredentials | undefined> {
  const run = async (trx: Db) => {
    const changed = await trx
      .updateTable('directory_users')
      .set({ enabled: enabled ? 1 : 0 })
      .where('id', '=', user.id)
      .where('enabled', '=', enabled ? 0 : 1)
      .executeTakeFirst();
    if (changed.numUpdatedRows === 0n) return undefined;
    return enabled ? { sessions: 0, tokens: 0, refreshTokens: 0, codes: 0 } : endUserCredentials(trx, user.id);
  };
  return inTransaction(db, run);
}

/**
 * Sets a new password and ends everything the user held with the old one. `record` (an audit
 * entry) is written in the same commit. Given the database (not a transaction), the password is
 * hashed before that commit's transaction begins, so the write lock is not held while argon2 works.
 */
export async function setUserPassword(
  db: Db,
  user: DirectoryUser,
  password: string,
  record?: (trx: Db, ended: EndedCredentials) => Promise<unknown>,
): Promise<EndedCredentials> {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw invalidInput(`The password must be at least ${MIN_PASSWORD_LENGTH} characters.`);
  }
  const hash = await hashPassword(password);
  return inTransaction(db, async (trx) => {
    await trx.updateTable('directory_users').set({ password_hash: hash }).where('id', '=', user.id).execute();
    const ended = await endUserCredentials(trx, user.id);
    await record?.(trx, ended);
    return ended;
  });
}

/**
 * Removes the user's row; everything that names them goes with it (foreign keys), their mail photo
 * and site pictures included. Returns the photo store's keys those rows named, for the caller to
 * remove once this has committed (a crash before that leaves files no row names, which the sweep
 * removes).
 */
export async function deleteUser(db: Db, user: DirectoryUser): Promise<string[]> {
  return inTransaction(db, async (trx) => {
    // On PostgreSQL a mail photo being stored for this user (it holds the user's row FOR NO KEY
    // UPDATE, see the mail store) commits first and its keys are read below; one that starts now
    // waits, then finds nobody. Without it, a photo committed between the read and the delete left
    // its files named by no row. (The sites' pictures are written under the user's lock, which the
    // caller holds; SQLite's transactions take the write lock at their start.)
    // (kysely is imported here, not at the top: the command line loads this module to check its
    // arguments before it opens any database.)
    const { PostgresAdapter } = await import('kysely');
    if (trx.getExecutor().adapter instanceof PostgresAdapter) {
      await trx.selectFrom('directory_users').select('id').where('id', '=', user.id).forUpdate().execute();
    }
    return removeUserRows(trx, user);
  });
}

async function removeUserRows(db: Db, user: DirectoryUser): Promise<string[]> {
  const named = await db
    .selectFrom('mail_photos')
    .select('blob_key')
    .where('user_id', '=', user.id)
    .unionAll(db.selectFrom('site_renditions').select('blob_key').where('user_id', '=', user.id))
    .unionAll(db.selectFrom('mail_photo_renditions').select('blob_key').where('user_id', '=', user.id))
    .execute();
  await db.deleteFrom('directory_users').where('id', '=', user.id).execute();
  return named.flatMap((row) => (row.blob_key ? [row.blob_key] : []));
}
