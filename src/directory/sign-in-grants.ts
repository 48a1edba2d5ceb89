import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../storage/database.js';

// What a sign-in leaves behind for the token endpoint: authorization codes (ten minutes, one
// redemption) and refresh tokens (rotating: each use gives a new one and retires the old; a retired
// one used again means it was copied, and the whole family of tokens from that sign-in ends).
// Only SHA-256 digests are stored.

export const CODE_LIFETIME_MS = 10 * 60_000;
export const REFRESH_TOKEN_LIFETIME_MS = 90 * 24 * 60 * 60_000;

const digest = (secret: string) => createHash('sha256').update(secret).digest('hex');
const newSecret = () => randomBytes(32).toString('base64url');

export interface CodeGrant {
  clientId: string;
  userId: string;
  redirectUri: string;
  scope: string;
  codeChallenge: string | null;
  nonce: string | null;
}

export async function createAuthorizationCode(db: Db, grant: CodeGrant): Promise<string> {
  const code = newSecret();
  const now = Date.now();
  await db
    .insertInto('directory_authorization_codes')
    .values({
      code_hash: digest(code),
      client_id: grant.clientId,
      user_id: grant.userId,
      redirect_uri: grant.redirectUri,
      scope: grant.scope,
      code_challenge: grant.codeChallenge,
      nonce: grant.nonce,
      created_at: now,
      expires_at: now + CODE_LIFETIME_MS,
    })
    .execute();
  // Codes are short-lived: the user's old ones go as new ones are made.
  await db
    .deleteFrom('directory_authorization_codes')
    .where('user_id', '=', grant.userId)
    .where('expires_at', '<', now - CODE_LIFETIME_MS)
    .execute();
  return code;
}

export type CodeLookup =
  | { ok: true; grant: CodeGrant; hash: string }
  | { ok: false; reason: 'unknown' | 'expired' }
  /** A code used before: what it gave, for `revokeCodeFamily` once the one replaying it proved it could have redeemed it. */
  | { ok: false; reason: 'redeemed'; grant: CodeGrant; familyId: string | null; live: boolean };

/** The code's grant, without redeeming it (the caller checks the client, redirect URI and PKCE first). */
export async function findAuthorizationCode(db: Db, code: string): Promise<CodeLookup> {
  if (code.includes('\u0000')) return { ok: false, reason: 'unknown' };
  const hash = digest(code);
  const row = await db
    .selectFrom('directory_authorization_codes')
    .selectAll()
    .where('code_hash', '=', hash)
    .executeTakeFirst();
  if (!row) return { ok: false, reason: 'unknown' };
  const grant: CodeGrant = {
    clientId: row.client_id,
    userId: row.user_id,
    redirectUri: row.redirect_uri,
    scope: row.scope,
    codeChallenge: row.code_challenge,
    nonce: row.nonce,
  };
  const live = row.expires_at > Date.now();
  if (row.redeemed_at !== null) return { ok: false, reason: 'redeemed', grant, familyId: row.family_id, live };
  if (!live) return { ok: false, reason: 'expired' };
  return { ok: true, hash, grant };
}

/**
 * Ends the refresh tokens a code gave when it comes back a second time (RFC 6749 §4.1.2): the
 * caller first checks that whoever sends it again could have redeemed it (its client, with the
 * credentials or PKCE verifier it needed), within the code's lifetime.
 */
export async function revokeCodeFamily(db: Db, familyId: string): Promise<void> {
  await revokeFamily(db, familyId);
}

/**
 * Marks the code used, naming the refresh-token family it starts, and makes that family's first
 * refresh token (when `refresh` is given), in one transaction: a crash leaves the code unused and
 * no token. `false` when someone redeemed it first. Then whoever it was ended with it (a second
 * redemption by someone who could redeem it is a replay): their transaction had committed before
 * this one's mark found the code used, so their token is there to end.
 */
export async function redeemAuthorizationCode(
  db: Db,
  hash: string,
  familyId: string,
  refresh: RefreshGrant | undefined,
): Promise<{ refreshToken: string | undefined } | false> {
  const redeemed = await db.transaction().execute(async (trx) => {
    const result = await trx
      .updateTable('directory_authorization_codes')
      .set({ redeemed_at: Date.now(), family_id: familyId })
      .where('code_hash', '=', hash)
      .where('redeemed_at', 'is', null)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) return false;
    return { refreshToken: refresh ? await createRefreshToken(trx, refresh) : undefined };
  });
  if (redeemed) return redeemed;
  const first = await db
    .selectFrom('directory_authorization_codes')
    .select('family_id')
    .where('code_hash', '=', hash)
    .executeTakeFirst();
  if (first?.family_id) await revokeFamily(db, first.family_id);
  return false;
}

export interface RefreshGrant {
  familyId: string;
  clientId: string;
  userId: string;
  scope: string;
  publicClient: boolean;
  /**
   * Public by the password grant without a secret (stored as public_client = 2): refreshed without
   * one only while the app allows public client flows. A code redeemed with PKCE is not.
   */
  passwordGrant?: boolean;
}

export const newFamilyId = () => randomUUID();

export async function createRefreshToken(db: Db, grant: RefreshGrant): Promise<string> {
  const token = newSecret();
  const now = Date.now();
  await db
    .insertInto('directory_refresh_tokens')
    .values({
      token_hash: digest(token),
      family_id: grant.familyId,
      client_id: grant.clientId,
      user_id: grant.userId,
      scope: grant.scope,
      public_client: grant.publicClient ? (grant.passwordGrant ? 2 : 1) : 0,
      created_at: now,
      expires_at: now + REFRESH_TOKEN_LIFETIME_MS,
    })
    .execute();
  await db
    .deleteFrom('directory_refresh_tokens')
    .where('user_id', '=', grant.userId)
    .where('expires_at', '<', now)
    .execute();
  return token;
}

export type RefreshLookup =
  { ok: true; grant: RefreshGrant; hash: string } | { ok: false; reason: 'unknown' | 'expired' | 'replayed' };

/**
 * How long after its first use a public client's refresh token is still taken: the requests an
 * app sends at once (MSAL refreshes each scope's token on its own, and two app instances may share
 * one cache) all carry the same token, and each gets its own next one. Used later, it is a replay.
 */
export const REFRESH_REUSE_GRACE_MS = 60_000;

/**
 * Whether a spent refresh token may be used again: a confidential client's always (the client
 * authenticates, so the token alone is useless to a thief; Entra lets confidential clients reuse
 * refresh tokens), a public client's only within the grace after its first use.
 */
function reuseAllowed(row: { public_client: number; used_at: number | null }, now: number): boolean {
  return row.used_at === null || row.public_client === 0 || now - row.used_at < REFRESH_REUSE_GRACE_MS;
}

/**
 * The refresh token's grant, before the client is checked. A public client's token replayed by
 * that client (`clientId`, as the request names it) ends its family; one sent by another client
 * id is refused and ends nothing, as it could not have been refreshed either.
 */
export async function findRefreshToken(db: Db, token: string, clientId: string | undefined): Promise<RefreshLookup> {
  if (token.includes('\u0000')) return { ok: false, reason: 'unknown' };
  const hash = digest(token);
  const row = await db
    .selectFrom('directory_refresh_tokens')
    .selectAll()
    .where('token_hash', '=', hash)
    .executeTakeFirst();
  if (!row) return { ok: false, reason: 'unknown' };
  const now = Date.now();
  if (!reuseAllowed(row, now)) {
    if (clientId === row.client_id) await revokeFamily(db, row.family_id);
    return { ok: false, reason: 'replayed' };
  }
  if (row.expires_at <= now) return { ok: false, reason: 'expired' };
  return {
    ok: true,
    hash,
    grant: {
      familyId: row.family_id,
      clientId: row.client_id,
      userId: row.user_id,
      scope: row.scope,
      publicClient: row.public_client !== 0,
      passwordGrant: row.public_client === 2,
    },
  };
}

/**
 * Marks the token used (at its first use) and makes the next one of its family, in one
 * transaction; undefined when the token may not be used again by now (a public client's, spent
 * past the grace meanwhile, or its family ended): then its family ends, and whoever holds a newer
 * one signs in again.
 */
export async function rotateRefreshToken(db: Db, hash: string, grant: RefreshGrant): Promise<string | undefined> {
  const next = await db.transaction().execute(async (trx) => {
    const now = Date.now();
    const used = await trx
      .updateTable('directory_refresh_tokens')
      .set({ used_at: now })
      .where('token_hash', '=', hash)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    if (used.numUpdatedRows === 0n) {
      const row = await trx
        .selectFrom('directory_refresh_tokens')
        .select(['public_client', 'used_at'])
        .where('token_hash', '=', hash)
        .executeTakeFirst();
      if (!row || !reuseAllowed(row, now)) return undefined;
    }
    return createRefreshToken(trx, grant);
  });
  if (next === undefined) await revokeFamily(db, grant.familyId);
  return next;
}

async function revokeFamily(db: Db, familyId: string): Promise<void> {
  await db.deleteFrom('directory_refresh_tokens').where('family_id', '=', familyId).execute();
}

/** Ends every refresh token and sign-in code of a user (Entra's "revoke sessions"); how many were live or unused. */
export async function revokeUserRefreshTokens(
  db: Db,
  userId: string,
  now = Date.now(),
): Promise<{ refreshTokens: number; codes: number }> {
  // Counted by the deletes themselves: a token made meanwhile is ended and counted, or neither.
  const live = await db
    .deleteFrom('directory_refresh_tokens')
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  await db.deleteFrom('directory_refresh_tokens').where('user_id', '=', userId).execute();
  const unused = await db
    .deleteFrom('directory_authorization_codes')
    .where('user_id', '=', userId)
    .where('redeemed_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  await db.deleteFrom('directory_authorization_codes').where('user_id', '=', userId).execute();
  return { refreshTokens: Number(live.numDeletedRows), codes: Number(unused.numDeletedRows) };
}
