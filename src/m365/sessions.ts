import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../storage/database.js';
import { findTenantUser, type TenantUserRecord } from './users.js';

// Portal sessions of tenant users (m365_sessions). A person who signs in with their Microsoft 365
// account is a user of the tenant, not of photosync's directory: their session names the tenant
// user, lives in a cookie of its own, and opens the portal's home page and its tiles, nothing
// else. Only the SHA-256 of the session id is stored.

export const TENANT_SESSION_COOKIE = 'photosync_m365_session';
export const TENANT_SESSION_LIFETIME_MS = 8 * 60 * 60 * 1000;

const digest = (sessionId: string) => createHash('sha256').update(sessionId).digest('hex');

export async function createTenantSession(db: Db, userId: string, now = Date.now()): Promise<string> {
  const sessionId = `pms_${randomBytes(32).toString('base64url')}`;
  await db
    .insertInto('m365_sessions')
    .values({
      id_hash: digest(sessionId),
      user_id: userId,
      created_at: now,
      expires_at: now + TENANT_SESSION_LIFETIME_MS,
    })
    .execute();
  // Sessions that ran out go when new ones come, so the table holds only the living.
  await db.deleteFrom('m365_sessions').where('expires_at', '<=', now).execute();
  return sessionId;
}

/** The tenant user of a living session; undefined when it ran out, was ended, or the user left the tenant. */
export async function tenantUserForSession(
  db: Db,
  sessionId: string,
  now = Date.now(),
): Promise<TenantUserRecord | undefined> {
  const row = await db
    .selectFrom('m365_sessions')
    .select(['user_id', 'expires_at'])
    .where('id_hash', '=', digest(sessionId))
    .executeTakeFirst();
  if (!row || row.expires_at <= now) return undefined;
  const user = await findTenantUser(db, row.user_id);
  return user?.accountEnabled ? user : undefined;
}

export async function endTenantSession(db: Db, sessionId: string): Promise<void> {
  await db.deleteFrom('m365_sessions').where('id_hash', '=', digest(sessionId)).execute();
}
