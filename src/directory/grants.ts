import { audienceFor } from './resources.js';
import { authenticateClient } from './client-auth.js';
import { entraError } from './entra-errors.js';
import { grantDelegatedScopes, grantedScopeText, parseScopeRequest } from './scope-request.js';
import { createRefreshToken, newFamilyId, REFRESH_TOKEN_LIFETIME_MS } from './sign-in-grants.js';
import { issueAccessToken } from './tokens.js';
import { checkPassword } from './users.js';
import { logRefusedSignIn, type RefusedSignIn } from './sign-in-throttle.js';
import { userTokenResponse, type GrantContext, type TokenResponse } from './token-context.js';

// The token endpoint's grants for daemons and scripts: client credentials (an app acting as
// itself, by secret or certificate) and the resource-owner password grant (a script acting as a
// user through a registered app). The sign-in grants (authorization code, refresh token) are in
// code-grants.ts.

const requireScope = (scope: string | undefined): string => {
  if (!scope) {
    throw entraError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'scope'.");
  }
  return scope;
};

export async function clientCredentialsGrant(context: GrantContext): Promise<TokenResponse> {
  const { deps } = context;
  const scope = requireScope(context.form.scope).trim();
  const resourceId = scope.endsWith('/.default') ? scope.slice(0, -'/.default'.length) : undefined;
  if (resourceId === undefined || /\s/.test(scope)) {
    throw entraError(
      400,
      'invalid_scope',
      1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    );
  }
  const request = parseScopeRequest(scope, deps.publicUrl);
  const missing = entraError(
    401,
    'invalid_client',
    7000216,
    "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
  );
  const client = await authenticateClient(
    { db: deps.db, publicUrl: deps.publicUrl, tenantSegment: context.tenantSegment },
    context.credentials,
    missing,
  );
  const { accessToken, expiresIn } = await issueAccessToken(
    deps,
    { kind: 'app', app: client.app },
    { audience: audienceFor(request.resource, deps.publicUrl), clientAuth: client.method },
  );
  return { token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: accessToken };
}

export async function passwordGrant(context: GrantContext): Promise<TokenResponse> {
  const { deps, form, throttle, address } = context;
  const request = parseScopeRequest(requireScope(form.scope), deps.publicUrl);
  // A public client (no secret) must still be a registered app, as in Entra, and one that allows
  // public client flows: otherwise a client id, which is no secret, would stand in for the app.
  const client = await authenticateClient(
    { db: deps.db, publicUrl: deps.publicUrl, tenantSegment: context.tenantSegment },
    context.credentials,
    undefined,
  );
  if (client.method === 'none' && !client.app.publicClient) {
    throw entraError(
      401,
      'invalid_client',
      7000218,
      "The request body must contain the following parameter: 'client_assertion' or 'client_secret'. " +
        `(App '${client.app.clientId}' does not allow public client flows; photosync apps public-client ${client.app.clientId} on allows the password grant without its secret.)`,
    );
  }
  // Only what the app was registered with: asked for more, the grant is refused before any password is checked.
  const granted = grantDelegatedScopes(request, client.app);
  if (!form.username || !form.password) {
    throw entraError(
      400,
      'invalid_request',
      900144,
      "The request body must contain the following parameters: 'username' and 'password'.",
    );
  }
  const wait = await throttle.begin(address, form.username);
  const refused = (reason: RefusedSignIn) =>
    logRefusedSignIn(context.reply.log, { upn: form.username ?? '', address, way: 'password_grant', reason });
  if (wait > 0) {
    refused('throttled');
    void context.reply.header('retry-after', Math.ceil(wait / 1000));
    throw entraError(
      400,
      'invalid_grant',
      50053,
      `Too many failed sign-ins for this account from this address; try again in ${Math.ceil(wait / 60_000)} minutes.`,
    );
  }
  const { user, disabled } = await checkPassword(deps.db, form.username, form.password);
  if (disabled) {
    await throttle.forgive(address, form.username);
    refused('disabled');
    throw entraError(400, 'invalid_grant', 50057, 'The user account is disabled.');
  }
  if (!user) {
    refused('wrong_password');
    throw entraError(400, 'invalid_grant', 50126, 'Error validating credentials due to invalid username or password.');
  }
  await throttle.forgive(address, form.username);
  const refreshToken = request.oidc.has('offline_access')
    ? {
        token: await createRefreshToken(deps.db, {
          familyId: newFamilyId(),
          clientId: client.app.clientId,
          userId: user.id,
          scope: form.scope ?? '',
          publicClient: client.method === 'none',
          passwordGrant: client.method === 'none',
        }),
        expiresIn: REFRESH_TOKEN_LIFETIME_MS / 1000,
      }
    : undefined;
  return userTokenResponse(context, {
    app: client.app,
    clientAuth: client.method,
    user,
    request,
    granted,
    scopeText: grantedScopeText(request, granted),
    refreshToken,
  });
}
