import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ConfidentialClientApplication } from '@azure/msal-node';
import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import { lazy } from '../lazy.js';
import type { Clock } from './clock.js';
import { describeError, type TenantProblem } from './errors.js';
import type { M365Settings } from './settings.js';
import { explainTokenFailure } from './authority.js';
import { tenantFetch, tenantFetcher } from './network.js';
import { loadMsal } from './tokens.js';

// Signing a tenant's people in at photosync's portal with their Microsoft 365 account: OpenID
// Connect, authorization code with PKCE (S256), through MSAL Node as the confidential client with
// the app's certificate. MSAL builds the authorize URL, redeems the code and checks state and
// nonce; the ID token's signature (the tenant's published keys), issuer and audience are checked
// here with jose, since MSAL Node reads the token's claims without verifying them.
//
// What a sign-in must remember between leaving for the tenant and coming back (state, nonce, the
// PKCE verifier, where to continue) travels in a short-lived cookie, signed with a key derived
// from the app's private key, so any instance can finish it and nobody can forge one.

/** Delegated permissions the sign-in asks for: who the user is, nothing more. */
export const SIGN_IN_SCOPES = ['openid', 'profile', 'User.Read'] as const;
export const PENDING_SIGN_IN_COOKIE = 'photosync_m365_signin';
export const PENDING_SIGN_IN_MS = 10 * 60_000;
/** Where the tenant sends the browser back: register `{PHOTOSYNC_PUBLIC_URL}` + this as the app's Web redirect URI. */
export const SIGN_IN_CALLBACK_PATH = '/signin/microsoft/callback';

export interface SignedInTenantUser {
  /** The Entra object id (`oid`): m365_users' key. */
  id: string;
  upn: string;
  displayName: string;
}

/** Why a sign-in did not finish, in the categories a person is told about. */
export type SignInProblem =
  /** The person cancelled at the tenant, or the tenant refused them (disabled account). */
  | 'declined'
  /** The tenant has not consented to the app's delegated permissions. */
  | 'consent'
  /** The tenant did not answer (or answered 5xx, or throttled). */
  | 'tenant_down'
  /** photosync's app registration or settings are wrong (certificate, redirect URI, client id). */
  | 'setup'
  /** The answer did not hold: state or nonce mismatch, a token that does not verify, a stale sign-in. */
  | 'invalid';

export type SignInResult =
  | { ok: true; user: SignedInTenantUser; next: string }
  | { ok: false; problem: SignInProblem; detail: string; next: string };

export interface CallbackQuery {
  code?: string | undefined;
  state?: string | undefined;
  error?: string | undefined;
  error_description?: string | undefined;
  error_subcode?: string | undefined;
}

export interface TenantSignIn {
  redirectUri: string;
  /** The tenant's authorize URL for a new sign-in, and the cookie value that remembers it. */
  begin(next: string): Promise<{ url: string; pending: string }>;
  /** Finishes a sign-in the tenant sent back; `pending` is the cookie `begin` made. */
  complete(query: CallbackQuery, pending: string | undefined): Promise<SignInResult>;
}

interface Pending {
  state: string;
  nonce: string;
  verifier: string;
  next: string;
  /** When the sign-in began (ms). */
  at: number;
}

export interface SignInDeps {
  settings: M365Settings;
  /** Made on first use (MSAL is loaded then): see m365/tokens.ts. */
  client: () => Promise<ConfidentialClientApplication>;
  /** photosync's own address (PHOTOSYNC_PUBLIC_URL). */
  publicUrl: string;
  clock: Clock;
  log: Logger;
}

export function createTenantSignIn(deps: SignInDeps): TenantSignIn {
  const { settings, clock } = deps;
  const msal = lazy(async () => {
    const [client, { CryptoProvider }] = await Promise.all([deps.client(), loadMsal()]);
    return { client, crypto: new CryptoProvider() };
  });
  const redirectUri = `${deps.publicUrl.replace(/\/$/, '')}${SIGN_IN_CALLBACK_PATH}`;
  const stateKey = createHmac('sha256', settings.certificate.privateKeyPem())
    .update('photosync connect-mode sign-in state')
    .digest();
  const seal = (pending: Pending) => {
    const body = Buffer.from(JSON.stringify(pending)).toString('base64url');
    return `${body}.${createHmac('sha256', stateKey).update(body).digest('base64url')}`;
  };
  const unseal = (text: string | undefined): Pending | undefined => {
    const [body, mac, extra] = (text ?? '').split('.');
    if (!body || !mac || extra !== undefined) return undefined;
    const expected = createHmac('sha256', stateKey).update(body).digest();
    const given = Buffer.from(mac, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    try {
      return JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Pending;
    } catch {
      return undefined;
    }
  };
  const verifier = idTokenVerifier(settings, deps.log);

  return {
    redirectUri,
    async begin(next) {
      const { client, crypto } = await msal().catch(async (error: unknown) => {
        throw await explainTokenFailure(error, settings, 'the sign-in');
      });
      const pkce = await crypto.generatePkceCodes();
      const pending: Pending = {
        state: crypto.createNewGuid(),
        nonce: crypto.createNewGuid(),
        verifier: pkce.verifier,
        next,
        at: clock.now(),
      };
      const url = await client
        .getAuthCodeUrl({
          scopes: [...SIGN_IN_SCOPES],
          redirectUri,
          responseMode: 'query',
          codeChallenge: pkce.challenge,
          codeChallengeMethod: 'S256',
          state: pending.state,
          nonce: pending.nonce,
          prompt: 'select_account',
        })
        .catch(async (error: unknown) => {
          throw await explainTokenFailure(error, settings, 'the sign-in');
        });
      return { url, pending: seal(pending) };
    },

    async complete(query, sealed) {
      const pending = unseal(sealed);
      const next = pending?.next ?? '/';
      const fail = (problem: SignInProblem, detail: string): SignInResult => ({ ok: false, problem, detail, next });
      if (query.error !== undefined) return authorizeError(query, next);
      if (!pending || clock.now() - pending.at > PENDING_SIGN_IN_MS) {
        return fail('invalid', 'The sign-in took too long or was started in another browser.');
      }
      if (!query.code || query.state !== pending.state) {
        return fail('invalid', 'The answer from Microsoft 365 does not belong to this sign-in (state).');
      }
      let idToken: string;
      try {
        const { client } = await msal();
        const result = await client.acquireTokenByCode(
          {
            code: query.code,
            scopes: [...SIGN_IN_SCOPES],
            redirectUri,
            codeVerifier: pending.verifier,
            state: pending.state,
            nonce: pending.nonce,
          },
          { code: query.code, state: query.state },
        );
        idToken = result.idToken;
        // The user's tokens are not kept: photosync acts on the tenant as the app, never as them.
        if (result.account) await client.getTokenCache().removeAccount(result.account);
      } catch (error) {
        const text = describeError(error);
        if (/nonce_mismatch|state_mismatch/i.test(text)) return fail('invalid', text);
        const explained = await explainTokenFailure(error, settings, 'the sign-in');
        return fail(problemOf(explained.problem), explained.message);
      }
      if (!idToken) return fail('invalid', 'Microsoft 365 answered without an ID token.');
      const checked = await verifier(idToken, pending.nonce);
      if (!checked.ok) return fail(checked.problem, checked.detail);
      return { ok: true, user: checked.user, next };
    },
  };
}

/** The tenant's own refusal at its authorize endpoint (`error=…&error_description=AADSTS…`). */
function authorizeError(query: CallbackQuery, next: string): SignInResult {
  const description = describeError(query.error_description ?? query.error ?? '');
  const code = /AADSTS(\d+)/.exec(description)?.[1];
  let problem: SignInProblem;
  if (code === '65001' || code === '65004' || code === '90094' || query.error === 'consent_required') {
    problem = code === '65004' ? 'declined' : 'consent';
  } else if (
    query.error === 'access_denied' ||
    query.error === 'login_required' ||
    query.error === 'interaction_required'
  ) {
    problem = 'declined';
  } else if (query.error === 'temporarily_unavailable' || query.error === 'server_error') {
    problem = 'tenant_down';
  } else {
    problem = 'setup';
  }
  return { ok: false, problem, detail: `${query.error ?? 'error'}: ${description}`, next };
}

function problemOf(problem: TenantProblem): SignInProblem {
  switch (problem) {
    case 'consent':
    case 'permission':
      return 'consent';
    case 'unreachable':
    case 'throttled':
      return 'tenant_down';
    case 'certificate':
    case 'clock':
    case 'wrong_url':
    case 'tenant':
    case 'app':
      return 'setup';
    case 'unexpected':
      return 'invalid';
  }
}

export type IdTokenCheck =
  { ok: true; user: SignedInTenantUser } | { ok: false; problem: 'invalid' | 'tenant_down'; detail: string };

/**
 * Verifies an ID token against the tenant's OpenID metadata: its signature by the published keys
 * (jwks_uri), `iss` = the metadata's issuer (which names the tenant), `aud` = the app, the nonce
 * this sign-in sent, and its lifetime.
 */
function idTokenVerifier(settings: M365Settings, log: Logger) {
  const metadataUrl = `${settings.authorityHost}/${settings.tenant}/v2.0/.well-known/openid-configuration`;
  // A failed read is tried again at the next sign-in.
  const discover = lazy(async () => {
    const response = await tenantFetch(settings, metadataUrl, { signal: AbortSignal.timeout(15_000) });
    if (!response.ok) throw new Error(`${metadataUrl} answered ${response.status}`);
    const body = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
    if (typeof body.issuer !== 'string' || typeof body.jwks_uri !== 'string') {
      throw new Error(`${metadataUrl} names no issuer or jwks_uri`);
    }
    const keys = createRemoteJWKSet(new URL(body.jwks_uri), { [customFetch]: tenantFetcher(settings) });
    return { issuer: body.issuer, keys };
  });

  return async (idToken: string, nonce: string): Promise<IdTokenCheck> => {
    let metadata: { issuer: string; keys: JWTVerifyGetKey };
    try {
      metadata = await discover();
    } catch (error) {
      log.warn({ err: describeError(error) }, 'the tenant’s OpenID metadata could not be read');
      return { ok: false, problem: 'tenant_down', detail: describeError(error) };
    }
    return checkIdToken(idToken, { issuer: metadata.issuer, keys: metadata.keys, clientId: settings.clientId, nonce });
  };
}

export interface IdTokenExpectations {
  /** The tenant's issuer, from its OpenID metadata. */
  issuer: string;
  /** The tenant's signing keys (jwks_uri). */
  keys: JWTVerifyGetKey;
  /** The app's client id: the token's audience. */
  clientId: string;
  /** The nonce this sign-in sent. */
  nonce: string;
}

/** Signature, issuer, audience, lifetime and nonce of an ID token; the user it names. */
export async function checkIdToken(idToken: string, expected: IdTokenExpectations): Promise<IdTokenCheck> {
  try {
    const { payload } = await jwtVerify(idToken, expected.keys, {
      issuer: expected.issuer,
      audience: expected.clientId,
      algorithms: ['RS256'],
      requiredClaims: ['oid', 'nonce', 'exp', 'iat'],
      clockTolerance: 300,
    });
    if (payload.nonce !== expected.nonce)
      return { ok: false, problem: 'invalid', detail: 'The ID token’s nonce is not this sign-in’s.' };
    const id = typeof payload.oid === 'string' ? payload.oid.toLowerCase() : '';
    // The optional `upn` claim when the app registration asks for it; otherwise preferred_username,
    // which is usually the UPN but may not be (a push asks Graph before it relies on it).
    const named = typeof payload.upn === 'string' && payload.upn !== '' ? payload.upn : payload.preferred_username;
    const upn = typeof named === 'string' ? named.toLowerCase() : '';
    if (!id || !upn)
      return { ok: false, problem: 'invalid', detail: 'The ID token names no user (oid, preferred_username).' };
    const displayName = typeof payload.name === 'string' && payload.name.trim() !== '' ? payload.name : upn;
    return { ok: true, user: { id, upn, displayName } };
  } catch (error) {
    if (error instanceof joseErrors.JWKSTimeout) return { ok: false, problem: 'tenant_down', detail: error.message };
    const detail =
      error instanceof joseErrors.JWTClaimValidationFailed
        ? `The ID token's ${error.claim} does not hold: ${error.reason}.`
        : `The ID token does not verify: ${describeError(error)}`;
    return { ok: false, problem: 'invalid', detail };
  }
}
