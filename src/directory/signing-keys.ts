import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import type { Db } from '../storage/database.js';
import { directorySetting, existingDirectorySetting } from './settings.js';

// The RS256 keys the directory signs tokens with, kept in the database so that every instance
// signs and verifies alike. The newest key that is not retired signs; every key retired within
// the last day stays published, so a token signed just before a rotation still verifies.
// Instances re-read the keys at most every minute, and at once when a token names a key they
// have not seen (another instance rotated).

export interface PublicJwk {
  kty: 'RSA';
  use: 'sig';
  alg: 'RS256';
  kid: string;
  n: string;
  e: string;
}

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
}

interface KeyRow {
  kid: string;
  private_key: string;
  public_jwk: string;
  created_at: number;
  retired_at: number | null;
}

/** How long a retired key stays published (longer than any token it signed lives). */
export const RETIRED_KEY_PUBLISHED_MS = 24 * 60 * 60 * 1000;
const REFRESH_MS = 60_000;
const RS256_SINCE = 'rs256_since';
const UNKNOWN_KID_RELOAD_MS = 1000;

interface KeyState {
  signing: SigningKey | undefined;
  published: PublicJwk[];
  verifying: Map<string, KeyObject>;
  loadedAt: number;
  /** The last time an unknown kid made us look again. */
  unknownReloadAt: number;
}

const states = new WeakMap<object, KeyState>();

function newKeyRow(now: number): KeyRow {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomBytes(20).toString('base64url');
  const jwk = publicKey.export({ format: 'jwk' }) as { n: string; e: string };
  const published: PublicJwk = { kty: 'RSA', use: 'sig', alg: 'RS256', kid, n: jwk.n, e: jwk.e };
  return {
    kid,
    private_key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    public_jwk: JSON.stringify(published),
    created_at: now,
    retired_at: null,
  };
}

async function load(db: Db, now: number): Promise<KeyState> {
  const rows = await db.selectFrom('directory_signing_keys').selectAll().orderBy('created_at').execute();
  const current = rows.filter((r) => r.retired_at === null).at(-1);
  const live = rows.filter((r) => r.retired_at === null || r.retired_at > now - RETIRED_KEY_PUBLISHED_MS);
  const state: KeyState = {
    signing: current && { kid: current.kid, privateKey: createPrivateKey(current.private_key) },
    published: live.map((r) => JSON.parse(r.public_jwk) as PublicJwk),
    verifying: new Map(live.map((r) => [r.kid, createPublicKey(createPrivateKey(r.private_key))])),
    loadedAt: now,
    unknownReloadAt: states.get(db)?.unknownReloadAt ?? 0,
  };
  states.set(db, state);
  return state;
}

async function state(db: Db, now = Date.now()): Promise<KeyState> {
  const known = states.get(db);
  if (known && now - known.loadedAt < REFRESH_MS) return known;
  return load(db, now);
}

/** The key that signs now; the first process to need one makes it. */
export async function currentSigningKey(db: Db): Promise<SigningKey> {
  const known = await state(db);
  if (known.signing) return known.signing;
  // Recorded before the first key exists: tokens issued before this moment were HS256.
  await directorySetting(db, RS256_SINCE, () => String(Date.now()));
  await db.transaction().execute(async (trx) => {
    // Another process may have made one since; inside the write transaction only one can.
    const existing = await trx
      .selectFrom('directory_signing_keys')
      .select('kid')
      .where('retired_at', 'is', null)
      .executeTakeFirst();
    if (!existing) await trx.insertInto('directory_signing_keys').values(newKeyRow(Date.now())).execute();
  });
  const loaded = await load(db, Date.now());
  if (!loaded.signing) throw new Error('No token signing key could be made.');
  return loaded.signing;
}

/** The keys a verifier may meet: what the JWKS endpoint publishes. */
export async function publishedKeys(db: Db): Promise<PublicJwk[]> {
  await currentSigningKey(db);
  return (await state(db)).published;
}

/** The public key for `kid`, or undefined when no published key has it. */
export async function verificationKey(db: Db, kid: string): Promise<KeyObject | undefined> {
  const current = await state(db);
  const known = current.verifying.get(kid);
  if (known) return known;
  // Perhaps another instance rotated since we last read; look again, but not for every forged kid.
  const now = Date.now();
  if (now - current.unknownReloadAt < UNKNOWN_KID_RELOAD_MS) return undefined;
  current.unknownReloadAt = now;
  return (await load(db, now)).verifying.get(kid);
}

/** When this directory began signing with RS256 (undefined before its first key); it never moves. */
export async function rs256Since(db: Db): Promise<number | undefined> {
  const value = await existingDirectorySetting(db, RS256_SINCE);
  return value === undefined ? undefined : Number(value);
}

/**
 * Makes a new signing key; the old one stops signing and stays published for a day. `record` (an
 * audit entry) is written in the same commit.
 */
export async function rotateSigningKey(
  db: Db,
  record?: (trx: Db, rotated: { kid: string; retired: string[] }) => Promise<unknown>,
): Promise<{ kid: string; retired: string[] }> {
  const now = Date.now();
  const row = newKeyRow(now);
  // A transaction of its own: the keys are loaded into this process once it has committed.
  const retired = await db.transaction().execute(async (trx) => {
    const old = await trx.selectFrom('directory_signing_keys').select('kid').where('retired_at', 'is', null).execute();
    await trx.updateTable('directory_signing_keys').set({ retired_at: now }).where('retired_at', 'is', null).execute();
    await trx.insertInto('directory_signing_keys').values(row).execute();
    // Keys retired long ago sign nothing that could still be valid.
    await trx
      .deleteFrom('directory_signing_keys')
      .where('retired_at', '<', now - RETIRED_KEY_PUBLISHED_MS)
      .execute();
    const kids = old.map((r) => r.kid);
    await record?.(trx, { kid: row.kid, retired: kids });
    return kids;
  });
  await load(db, Date.now());
  return { kid: row.kid, retired };
}
