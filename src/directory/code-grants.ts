import { createHash, timingSafeEqual } from 'node:crypto';
import { redirectUriIsSpa } from './apps.js';
import { authenticateClient } from './client-auth.js';
import { entraError } from './entra-errors.js';
import { grantDelegatedScopes, grantedScopeText, parseAuthorizeScopes, tokenScopeRequest } from './scope-request.js';
import {
  REFRESH_TOKEN_LIFETIME_MS,
  findAuthorizationCode,
  findRefreshToken,
  newFamilyId,
  redeemAuthorizationCode,
  revokeCodeFamily,
  rotateRefreshToken,
  type CodeGrant,
  type CodeLookup,
} from './sign-in-grants.js';
import { userTokenResponse, type GrantContext, type TokenResponse } from './token-context.js';
import { findUserById, type DirectoryUser } from './users.js';

// The sign-in grants: an authorization code from /authorize (with PKCE), and a refresh token.
// A client that proves itself (secret or certificate) is confidential; one that does not must
// have used PKCE (S256) and have been sent to a single-page app's redirect URI (redeeming from the
// browser) or be an app allowing public client flows (desktop, mobile); its refresh tokens then
// need no credentials either.

const REFRESH_SECONDS = REFRESH_TOKEN_LIFETIME_MS / 1000;
const needsCredentials = entraError(
  401,
  'invalid_client',
  7000218,
  "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
);

function clientDeps(context: GrantContext) {
  return { db: context.deps.db, publicUrl: context.deps.publicUrl, tenantSegment: context.tenantSegment };
}

/** RFC 7636's S256: base64url(SHA-256(verifier)) must be the challenge. */
function pkceHolds(verifier: string, challenge: string): boolean {
  const computed = Buffer.from(createHash('sha256').update(verifier).digest('base64url'));
  const expected = Buffer.from(challenge);
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}

async function enabledUser(userId: string, context: GrantContext): Promise<DirectoryUser> {
  const user = await findUserById(context.deps.db, userId);
  if (!user?.enabled) {
    throw entraError(400, 'invalid_grant', 50057, 'The user account is disabled or no longer exists.');
  }
  return user;
}

/**
 * Who may redeem a code, checked in Entra's order: its own client, authenticated as the code asks
 * (credentials without PKCE; for a web app's redirect URI always; a single-page app's from the
 * browser), at the same redirect URI, with the PKCE verifier. Throws Entra's error otherwise.
 */
async function redeemerOf(context: GrantContext, grant: CodeGrant) {
  const { deps, form } = context;
  if ((context.credentials.clientId ?? grant.clientId) !== grant.clientId) {
    throw entraError(400, 'invalid_grant', 70000, 'The provided authorization code was issued to a different client.');
  }
  // Without PKCE the code must come back with the app's credentials; with it, a public client may redeem it alone.
  const client = await authenticateClient(
    clientDeps(context),
    { ...context.credentials, clientId: grant.clientId },
    grant.codeChallenge === null ? needsCredentials : undefined,
  );
  // As Entra's platforms: a code of a web app's redirect URI comes back with the app's secret or
  // certificate; of a single-page app's, from the browser (a cross-origin request); an app that
  // allows public client flows (desktop, mobile) redeems its codes alone.
  if (client.method === 'none' && !client.app.publicClient) {
    if (!(await redirectUriIsSpa(deps.db, client.app.clientId, grant.redirectUri))) {
      throw entraError(
        401,
        'invalid_client',
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'. " +
          `(${grant.redirectUri} is a web app's redirect URI of app '${client.app.clientId}': its codes are redeemed with the app's secret or certificate. ` +
          `A single-page app's address is registered with \`photosync apps redirect-uri ${client.app.clientId} add <uri> --spa\`; ` +
          `\`photosync apps public-client ${client.app.clientId} on\` lets a desktop or mobile app redeem its codes alone.)`,
      );
    }
    if (!context.fromBrowser) {
      throw entraError(
        400,
        'invalid_request',
        9002327,
        "Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests.",
      );
    }
  }
  if (form.redirect_uri !== grant.redirectUri) {
    throw entraError(
      400,
      'invalid_grant',
      500112,
      `The reply address '${form.redirect_uri ?? ''}' does not match the reply address '${grant.redirectUri}' provided when requesting the authorization code.`,
    );
  }
  if (grant.codeChallenge !== null && !(form.code_verifier && pkceHolds(form.code_verifier, grant.codeChallenge))) {
    throw entraError(
      400,
      'invalid_grant',
      50148,
      'The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.',
    );
  }
  // A verifier for a code asked for without a challenge: someone other than the app that asked
  // (which would have sent the challenge) is redeeming it; refused (RFC 9700, section 2.1.1).
  if (grant.codeChallenge === null && form.code_verifier !== undefined) {
    throw entraError(
      400,
      'invalid_grant',
      50148,
      'The code_verifier was sent, but the authorization request had no code_challenge: PKCE must be used from the authorization request on, or not at all.',
    );
  }
  return client;
}

/**
 * A code sent again: what its first redemption gave ends only when this request could have
 * redeemed it itself: within the code's lifetime, by its own client, with the credentials and the
 * PKCE verifier it needed. Someone who found a spent code (in a log, a Referer, the history) ends
 * nobody's sign-in; someone who raced the app with a stolen code and its verifier does.
 */
async function revokeOnReplay(
  context: GrantContext,
  replay: Extract<CodeLookup, { reason: 'redeemed' }>,
): Promise<void> {
  const { grant, familyId } = replay;
  if (!familyId || !replay.live) return;
  try {
    await redeemerOf(context, grant);
  } catch {
    return;
  }
  await revokeCodeFamily(context.deps.db, familyId);
}

const CODE_REDEEMED = () =>
  entraError(
    400,
    'invalid_grant',
    54005,
    'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.',
  );

export async function authorizationCodeGrant(context: GrantContext): Promise<TokenResponse> {
  const { deps, form } = context;
  if (!form.code) {
    throw entraError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'code'.");
  }
  const found = await findAuthorizationCode(deps.db, form.code);
  if (!found.ok) {
    switch (found.reason) {
      case 'redeemed':
        await revokeOnReplay(context, found);
        throw CODE_REDEEMED();
      case 'expired':
        throw entraError(
          400,
          'invalid_grant',
          70008,
          'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.',
        );
      case 'unknown':
        throw entraError(
          400,
          'invalid_grant',
          9002313,
          'Invalid request. Request is malformed or invalid. The code is not one this directory issued.',
        );
    }
  }
  const { grant } = found;
  const client = await redeemerOf(context, grant);
  // The scope the code was issued for decides the OpenID side (nonce, refresh token); the
  // request's own scope (MSAL repeats it) decides the resource, within what the app may have.
  const signIn = parseAuthorizeScopes(grant.scope, deps.publicUrl)[0]!;
  const request = tokenScopeRequest(form.scope, grant.scope, deps.publicUrl);
  const merged = { ...request, oidc: new Set([...signIn.oidc, ...request.oidc]) };
  const granted = grantDelegatedScopes(merged, client.app);
  const user = await enabledUser(grant.userId, context);
  const familyId = newFamilyId();
  const redeemed = await redeemAuthorizationCode(
    deps.db,
    found.hash,
    familyId,
    merged.oidc.has('offline_access')
      ? {
          familyId,
          clientId: client.app.clientId,
          userId: user.id,
          scope: grant.scope,
          publicClient: client.method === 'none',
        }
      : undefined,
  );
  // Redeemed by someone else meanwhile, with everything a redemption needs: a replay, whose
  // first redemption has been ended (as when the code comes back later).
  if (!redeemed) {
    throw CODE_REDEEMED();
  }
  const refreshToken = redeemed.refreshToken ? { token: redeemed.refreshToken, expiresIn: REFRESH_SECONDS } : undefined;
  return userTokenResponse(context, {
    app: client.app,
    clientAuth: client.method,
    user,
    request: merged,
    granted,
    scopeText: grantedScopeText(merged, granted),
    nonce: grant.nonce ?? undefined,
    refreshToken,
  });
}

const REPLAYED = () =>
  entraError(
    400,
    'invalid_grant',
    50173,
    'The provided grant has expired due to it being revoked, a fresh auth token is needed. The refresh token was already used, so every token of this sign-in was revoked.',
    'bad_token',
  );

export async function refreshTokenGrant(context: GrantContext): Promise<TokenResponse> {
  const { deps, form } = context;
  if (!form.refresh_token) {
    throw entraError(
      400,
      'invalid_request',
      900144,
      "The request body must contain the following parameter: 'refresh_token'.",
    );
  }
  const found = await findRefreshToken(deps.db, form.refresh_token, context.credentials.clientId);
  if (!found.ok) {
    switch (found.reason) {
      case 'replayed':
        throw REPLAYED();
      case 'expired':
        throw entraError(
          400,
          'invalid_grant',
          700082,
          'The refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.',
          'bad_token',
        );
      case 'unknown':
        throw entraError(
          400,
          'invalid_grant',
          9002313,
          'Invalid request. Request is malformed or invalid. The refresh token is not one this directory issued, or it was revoked.',
          'bad_token',
        );
    }
  }
  const { grant } = found;
  if ((context.credentials.clientId ?? grant.clientId) !== grant.clientId) {
    throw entraError(
      400,
      'invalid_grant',
      70000,
      'The provided grant is invalid: the refresh token was issued to a different client.',
    );
  }
  // The client proves itself before the token is spent, so a stolen token without the app's secret spends nothing.
  const client = await authenticateClient(
    clientDeps(context),
    { ...context.credentials, clientId: grant.clientId },
    grant.publicClient ? undefined : needsCredentials,
  );
  // Got by the password grant without a secret: refreshed so only while the app still allows it.
  if (client.method === 'none' && grant.passwordGrant && !client.app.publicClient) {
    throw entraError(
      401,
      'invalid_client',
      7000218,
      "The request body must contain the following parameter: 'client_assertion' or 'client_secret'. " +
        `(App '${client.app.clientId}' no longer allows public client flows: this refresh token, got by the password grant without a secret, is refreshed with the app's secret.)`,
    );
  }
  const request = tokenScopeRequest(form.scope, grant.scope, deps.publicUrl);
  const granted = grantDelegatedScopes(request, client.app);
  const user = await enabledUser(grant.userId, context);
  const next = await rotateRefreshToken(deps.db, found.hash, grant);
  if (next === undefined) throw REPLAYED();
  return userTokenResponse(context, {
    app: client.app,
    clientAuth: client.method,
    user,
    request,
    granted,
    scopeText: grantedScopeText(request, granted),
    // A refresh token is always answered with the next one: the one just used is spent.
    refreshToken: { token: next, expiresIn: REFRESH_SECONDS },
  });
}
