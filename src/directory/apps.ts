import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { invalidInput, notFound } from '../errors.js';
import type { Db } from '../storage/database.js';
import { storedScopes, type GraphScope } from './scopes.js';
import { findUserById, type DirectoryUser } from './users.js';

// App registrations (Entra's "app registrations" for daemons) and the access tokens the directory
// signs for them. Tokens are HS256 JWTs signed with a secret that the first process to need it
// stores in the database, so every instance and every restart verifies the same tokens.

export const ACCESS_TOKEN_LIFETIME_SECONDS = 3599;

export interface AppRegistration {
  clientId: string;
  name: string;
  scopes: GraphScope[];
  createdAt: number;
}

/** Where tokens are valid: the server's public URL is their audience and the base of their issuer. */
export interface TokenDeps {
  db: Db;
  publicUrl: string;
}

const digest = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** Registers an app; the secret is shown once and only its SHA-256 is kept. */
export async function createApp(
  db: Db,
  name: string,
  scopes: readonly GraphScope[],
): Promise<AppRegistration & { secret: string }> {
  const cleanName = name.trim();
  if (cleanName.length === 0 || cleanName.length > 120 || /\p{Cc}/u.test(cleanName)) {
    throw invalidInput('An app name is 1 to 120 characters without control characters.');
  }
  if (scopes.length === 0) throw invalidInput('Give the app at least one scope.', 'invalid_scope');
  // Entra's secrets are 40 URL-safe characters; these are 256 random bits.
  const secret = `psc~${randomBytes(32).toString('base64url')}`;
  const app = { clientId: randomUUID(), name: cleanName, scopes: [...scopes], createdAt: Date.now() };
  await db
    .insertInto('directory_apps')
    .values({
      client_id: app.clientId,
      name: app.name,
      secret_hash: digest(secret),
      scopes: app.scopes.join(' '),
      created_at: app.createdAt,
    })
    .execute();
  return { ...app, secret };
}

export async function listApps(db: Db): Promise<AppRegistration[]> {
  const rows = await db
    .selectFrom('directory_apps')
    .select(['client_id', 'name', 'scopes', 'created_at'])
    .orderBy('created_at')
    .execute();
  return rows.map(toApp);
}

/** Removes an app by client id; its tokens stop working at once. */
export async function removeApp(db: Db, clientId: string): Promise<void> {
  const result = await db.deleteFrom('directory_apps').where('client_id', '=', clientId).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw notFound(`There is no app with client id ${clientId}.`, 'app_not_found');
}

export async function findApp(db: Db, clientId: string): Promise<AppRegistration | undefined> {
  const row = await db
    .selectFrom('directory_apps')
    .select(['client_id', 'name', 'scopes', 'created_at'])
    .where('client_id', '=', clientId)
    .executeTakeFirst();
  return row && toApp(row);
}

/** The app whose client id and secret these are, or undefined (never says which one was wrong). */
export async function appForCredentials(
  db: Db,
  clientId: string,
  secret: string,
): Promise<AppRegistration | undefined> {
  const row = await db
    .selectFrom('directory_apps')
    .select(['client_id', 'name', 'scopes', 'created_at', 'secret_hash'])
    .where('client_id', '=', clientId)
    .executeTakeFirst();
  const expected = Buffer.from(row?.secret_hash ?? digest('no such app'), 'hex');
  const matches = timingSafeEqual(expected, Buffer.from(digest(secret), 'hex'));
  return row && matches ? toApp(row) : undefined;
}

function toApp(row: { client_id: string; name: string; scopes: string; created_at: number }): AppRegistration {
  return { clientId: row.client_id, name: row.name, scopes: storedScopes(row.scopes, []), createdAt: row.created_at };
}

// Settings never change once made, so each database handle reads each one once.
const settingsCache = new WeakMap<object, Map<string, string>>();

/** A directory setting made once by whichever process needs it first; everyone reads the same. */
async function directorySetting(db: Db, name: string, make: () => string): Promise<string> {
  let cache = settingsCache.get(db);
  if (!cache) settingsCache.set(db, (cache = new Map()));
  const cached = cache.get(name);
  if (cached !== undefined) return cached;
  const value = await readOrMakeSetting(db, name, make);
  cache.set(name, value);
  return value;
}

async function readOrMakeSetting(db: Db, name: string, make: () => string): Promise<string> {
  const existing = await db
    .selectFrom('directory_settings')
    .select('value')
    .where('name', '=', name)
    .executeTakeFirst();
  if (existing) return existing.value;
  await db
    .insertInto('directory_settings')
    .values({ name, value: make(), created_at: Date.now() })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const row = await db
    .selectFrom('directory_settings')
    .select('value')
    .where('name', '=', name)
    .executeTakeFirstOrThrow();
  return row.value;
}

/** The organisation's tenant id (a GUID, like Entra's), made on first use. */
export function tenantId(db: Db): Promise<string> {
  return directorySetting(db, 'tenant_id', () => randomUUID());
}

async function signingKey(db: Db): Promise<Uint8Array> {
  const value = await directorySetting(db, 'token_signing_key', () => randomBytes(32).toString('base64url'));
  return new Uint8Array(Buffer.from(value, 'base64url'));
}

export const issuerFor = (publicUrl: string, tenant: string) => `${publicUrl}/${tenant}/v2.0`;

export type TokenSubject =
  | { kind: 'app'; app: AppRegistration }
  | { kind: 'user'; user: DirectoryUser; scopes: readonly GraphScope[]; clientId: string };

export interface IssueOptions {
  /** For tests of expiry and audience checks. */
  now?: number;
  lifetimeSeconds?: number;
  audience?: string;
}

/** Signs an access token with Entra's claim names: `roles` for apps, `scp` for users. */
export async function issueAccessToken(
  deps: TokenDeps,
  subject: TokenSubject,
  options: IssueOptions = {},
): Promise<{ accessToken: string; expiresIn: number }> {
  const tenant = await tenantId(deps.db);
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const lifetime = options.lifetimeSeconds ?? ACCESS_TOKEN_LIFETIME_SECONDS;
  const claims =
    subject.kind === 'app'
      ? {
          tid: tenant,
          oid: subject.app.clientId,
          appid: subject.app.clientId,
          app_displayname: subject.app.name,
          idtyp: 'app',
          roles: subject.app.scopes,
        }
      : {
          tid: tenant,
          oid: subject.user.id,
          appid: subject.clientId,
          upn: subject.user.upn,
          name: subject.user.displayName,
          idtyp: 'user',
          scp: subject.scopes.join(' '),
        };
  const accessToken = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(subject.kind === 'app' ? subject.app.clientId : subject.user.id)
    .setIssuer(issuerFor(deps.publicUrl, tenant))
    .setAudience(options.audience ?? deps.publicUrl)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + lifetime)
    .setJti(randomUUID())
    .sign(await signingKey(deps.db));
  return { accessToken, expiresIn: lifetime };
}

export type TokenCheck =
  { ok: true; subject: TokenSubject } | { ok: false; reason: 'expired' | 'invalid' | 'audience' | 'revoked' };

/** Checks signature, issuer, audience and lifetime, then that the app or user still exists and is enabled. */
export async function verifyAccessToken(deps: TokenDeps, token: string): Promise<TokenCheck> {
  const tenant = await tenantId(deps.db);
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, await signingKey(deps.db), {
      algorithms: ['HS256'],
      issuer: issuerFor(deps.publicUrl, tenant),
      audience: deps.publicUrl,
      requiredClaims: ['exp', 'sub', 'idtyp'],
    }));
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) return { ok: false, reason: 'expired' };
    if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'aud') {
      return { ok: false, reason: 'audience' };
    }
    return { ok: false, reason: 'invalid' };
  }
  const sub = String(payload.sub);
  if (payload.idtyp === 'app') {
    const app = await findApp(deps.db, sub);
    return app ? { ok: true, subject: { kind: 'app', app } } : { ok: false, reason: 'revoked' };
  }
  const user = await findUserById(deps.db, sub);
  if (!user?.enabled) return { ok: false, reason: 'revoked' };
  const scopes = storedScopes(typeof payload.scp === 'string' ? payload.scp : '', []);
  return { ok: true, subject: { kind: 'user', user, scopes, clientId: String(payload.appid) } };
}
