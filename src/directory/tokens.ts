import { createHash, randomUUID } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { Db } from '../storage/database.js';
import { FROM_DIRECTORY, type ReadCache } from '../storage/read-cache.js';
import { findApp, type AppRegistration } from './apps.js';
import { acceptedAudiences, type Surface } from './resources.js';
import { storedScopes, type GraphScope } from './scopes.js';
import { existingDirectorySetting, tenantId } from './settings.js';
import { currentSigningKey, rs256Since, verificationKey } from './signing-keys.js';
import { findUserById, type DirectoryUser } from './users.js';
import { tokensValidFrom } from './revocation.js';

// The tokens the directory signs, with Entra's v2.0 claim names: access tokens (for Graph, the
// sites or this server), and ID tokens (for the app that signed the user in). RS256 with the
// current key from signing-keys.ts; the `kid` header names it, the JWKS endpoint publishes it.

export const ACCESS_TOKEN_LIFETIME_SECONDS = 3599;
export const ID_TOKEN_LIFETIME_SECONDS = 3600;

/** Where tokens are valid: the server's public URL is the base of their issuer. */
export interface TokenDeps {
  db: Db;
  publicUrl: string;
  /** Keeps the app and user rows a token names between commits (see ReadCache). */
  reads?: ReadCache | undefined;
}

export const issuerFor = (publicUrl: string, tenant: string) => `${publicUrl}/${tenant}/v2.0`;

/** How the client proved itself at the token endpoint: Entra's `azpacr` 0, 1 and 2. */
export type ClientAuthMethod = 'none' | 'secret' | 'certificate';
const AZPACR: Record<ClientAuthMethod, '0' | '1' | '2'> = { none: '0', secret: '1', certificate: '2' };

export type TokenSubject =
  | { kind: 'app'; app: AppRegistration }
  | { kind: 'user'; user: DirectoryUser; scopes: readonly GraphScope[]; clientId: string };

export interface IssueOptions {
  /** For tests of expiry. */
  now?: number;
  lifetimeSeconds?: number;
  /** Default: this server's public URL, good on Graph and the sites alike. */
  audience?: string;
  clientAuth?: ClientAuthMethod;
}

async function sign(deps: TokenDeps, claims: JWTPayload, now: number, lifetime: number): Promise<string> {
  const key = await currentSigningKey(deps.db);
  const tenant = await tenantId(deps.db);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid })
    .setIssuer(issuerFor(deps.publicUrl, tenant))
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + lifetime)
    .sign(key.privateKey);
}

/** Signs an access token with Entra's claim names: `roles` for apps, `scp` for users. */
export async function issueAccessToken(
  deps: TokenDeps,
  subject: TokenSubject,
  options: IssueOptions = {},
): Promise<{ accessToken: string; expiresIn: number }> {
  const tenant = await tenantId(deps.db);
  if (subject.kind === 'user' && options.now === undefined) await waitForValidFrom(deps.db, subject.user.id);
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const lifetime = options.lifetimeSeconds ?? ACCESS_TOKEN_LIFETIME_SECONDS;
  const clientId = subject.kind === 'app' ? subject.app.clientId : subject.clientId;
  const common = {
    aud: options.audience ?? deps.publicUrl,
    tid: tenant,
    appid: clientId,
    azp: clientId,
    azpacr: AZPACR[options.clientAuth ?? 'secret'],
    ver: '2.0',
    uti: randomUUID(),
    jti: randomUUID(),
  };
  const claims =
    subject.kind === 'app'
      ? {
          ...common,
          sub: subject.app.clientId,
          oid: subject.app.clientId,
          app_displayname: subject.app.name,
          idtyp: 'app',
          roles: subject.app.scopes,
        }
      : {
          ...common,
          sub: subject.user.id,
          oid: subject.user.id,
          upn: subject.user.upn,
          preferred_username: subject.user.upn,
          name: subject.user.displayName,
          idtyp: 'user',
          scp: subject.scopes.join(' '),
        };
  return { accessToken: await sign(deps, claims, now, lifetime), expiresIn: lifetime };
}

/**
 * Tokens issued in the second the user's tokens were ended would be refused with the ones before
 * (`iat` is in whole seconds): a sign-in in that second waits for the next one.
 */
async function waitForValidFrom(db: Db, userId: string): Promise<void> {
  const wait = (await tokensValidFrom(db, userId)) - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

export interface IdTokenInput {
  user: DirectoryUser;
  clientId: string;
  nonce?: string | undefined;
  /** The OpenID scopes granted: `profile` adds the name, `email` the address. */
  profile: boolean;
  email: boolean;
}

/** Entra's `sub` is pairwise: the same user has a different one in each app. */
export function pairwiseSubject(userId: string, clientId: string): string {
  return createHash('sha256').update(`${clientId}:${userId}`).digest('base64url').slice(0, 43);
}

/** An OpenID Connect ID token for the app (`aud` = its client id). */
export async function issueIdToken(deps: TokenDeps, input: IdTokenInput): Promise<string> {
  const tenant = await tenantId(deps.db);
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    aud: input.clientId,
    sub: pairwiseSubject(input.user.id, input.clientId),
    oid: input.user.id,
    tid: tenant,
    preferred_username: input.user.upn,
    ...(input.profile ? { name: input.user.displayName } : {}),
    ...(input.email && input.user.hasMailbox ? { email: input.user.upn } : {}),
    ...(input.nonce !== undefined ? { nonce: input.nonce } : {}),
    ver: '2.0',
    uti: randomUUID(),
  };
  return sign(deps, claims, now, ID_TOKEN_LIFETIME_SECONDS);
}

/** `client_info`: base64url of `{"uid","utid"}`, from which MSAL builds the account's home id. */
export function clientInfo(userId: string, tenant: string): string {
  return Buffer.from(JSON.stringify({ uid: userId, utid: tenant })).toString('base64url');
}

export type TokenCheck =
  | {
      ok: true;
      subject: TokenSubject;
      clientAuth: ClientAuthMethod;
      /** When the token expires (its `exp`, in ms): until then it holds while nothing in the database changes. */
      until: number;
    }
  | { ok: false; reason: 'expired' | 'invalid' | 'audience' | 'revoked' };

/**
 * Checks signature, issuer, audience (the surface's own or this server's) and lifetime, then that
 * the app the token was issued to is still registered and, for a user's token, that the user
 * still exists and is enabled. Those rows come from the read cache, so a removed app or a
 * disabled user counts from the next request on, in every instance.
 */
export async function verifyAccessToken(
  deps: TokenDeps,
  token: string,
  surface: Surface = 'graph',
): Promise<TokenCheck> {
  const tenant = await tenantId(deps.db);
  let payload: JWTPayload;
  try {
    const header = decodeProtectedHeader(token);
    const options = {
      issuer: issuerFor(deps.publicUrl, tenant),
      audience: acceptedAudiences(surface, deps.publicUrl),
      requiredClaims: ['exp', 'iat', 'sub', 'idtyp'],
    };
    if (header.alg === 'HS256') {
      const legacy = await legacyKey(deps.db);
      if (!legacy) return { ok: false, reason: 'invalid' };
      ({ payload } = await jwtVerify(token, legacy.key, { ...options, algorithms: ['HS256'] }));
      if (!legacy.mayHaveIssued(payload)) return { ok: false, reason: 'invalid' };
    } else {
      const key = typeof header.kid === 'string' ? await verificationKey(deps.db, header.kid) : undefined;
      if (!key) return { ok: false, reason: 'invalid' };
      ({ payload } = await jwtVerify(token, key, { ...options, algorithms: ['RS256'] }));
    }
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) return { ok: false, reason: 'expired' };
    if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'aud') {
      return { ok: false, reason: 'audience' };
    }
    return { ok: false, reason: 'invalid' };
  }
  const clientAuth = (Object.keys(AZPACR) as ClientAuthMethod[]).find((m) => AZPACR[m] === payload.azpacr) ?? 'secret';
  // SharePoint Online takes app-only tokens only from apps that proved themselves with a
  // certificate, whichever audience the sites accept the token under (theirs or this server's URL).
  if (surface === 'sharepoint' && payload.idtyp === 'app' && clientAuth !== 'certificate') {
    return { ok: false, reason: 'invalid' };
  }
  const app = await cachedApp(deps, String(payload.appid ?? payload.sub));
  if (!app) return { ok: false, reason: 'revoked' };
  const until = (payload.exp ?? 0) * 1000;
  if (payload.idtyp === 'app') return { ok: true, subject: { kind: 'app', app }, clientAuth, until };
  const userId = String(payload.oid ?? payload.sub);
  const user = await cachedUser(deps, userId);
  if (!user?.enabled) return { ok: false, reason: 'revoked' };
  // A password change or a disabled account ends the tokens issued before it.
  if ((payload.iat ?? 0) * 1000 < (await cachedValidFrom(deps, userId))) return { ok: false, reason: 'revoked' };
  const scopes = storedScopes(typeof payload.scp === 'string' ? payload.scp : '', []);
  return { ok: true, subject: { kind: 'user', user, scopes, clientId: app.clientId }, clientAuth, until };
}

const cachedApp = (deps: TokenDeps, clientId: string) =>
  deps.reads
    ? deps.reads.read(`app ${clientId}`, () => findApp(deps.db, clientId), FROM_DIRECTORY)
    : findApp(deps.db, clientId);
const cachedUser = (deps: TokenDeps, id: string) =>
  deps.reads
    ? deps.reads.read(`user ${id}`, () => findUserById(deps.db, id), FROM_DIRECTORY)
    : findUserById(deps.db, id);
const cachedValidFrom = (deps: TokenDeps, id: string) =>
  deps.reads
    ? deps.reads.read(`tokens valid from ${id}`, () => tokensValidFrom(deps.db, id), FROM_DIRECTORY)
    : tokensValidFrom(deps.db, id);

/**
 * Before RS256, tokens were HS256 with a secret in `directory_settings`. Those still verify until
 * they expire, which is within an hour of the switch: only a token issued before the first RS256
 * key, with no longer than the usual lifetime, counts. So an operator's running daemons keep
 * their tokens through the upgrade, and no one holding a copy of the old secret can make a new
 * token that is accepted once that hour is over.
 */
async function legacyKey(
  db: Db,
): Promise<{ key: Uint8Array; mayHaveIssued: (payload: JWTPayload) => boolean } | undefined> {
  const secret = await existingDirectorySetting(db, 'token_signing_key');
  if (secret === undefined) return undefined;
  // The switch is the making of the first RS256 key; an upgraded server that has not signed yet makes it now.
  await currentSigningKey(db);
  const since = await rs256Since(db);
  if (since === undefined) return undefined;
  const switchedAt = Math.floor(since / 1000);
  return {
    key: new Uint8Array(Buffer.from(secret, 'base64url')),
    mayHaveIssued: ({ iat, exp }) =>
      iat !== undefined && exp !== undefined && iat <= switchedAt && exp - iat <= ACCESS_TOKEN_LIFETIME_SECONDS,
  };
}
