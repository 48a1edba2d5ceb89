import type { FastifyReply } from 'fastify';
import type { SignInThrottle } from './sign-in-throttle.js';
import type { Dialect } from '../storage/database.js';
import type { AppRegistration } from './apps.js';
import type { ClientCredentials } from './client-auth.js';
import type { ScopeRequest } from './scope-request.js';
import { tenantId } from './settings.js';
import { clientInfo, issueAccessToken, issueIdToken, type ClientAuthMethod, type TokenDeps } from './tokens.js';
import type { DirectoryUser } from './users.js';
import { audienceFor } from './resources.js';
import type { GraphScope } from './scopes.js';

// What every grant of the token endpoint is handed, and the answer they share.

/** The token endpoint's form, as Entra's clients send it. */
export interface TokenForm {
  grant_type?: string | undefined;
  client_id?: string | undefined;
  client_secret?: string | undefined;
  client_assertion_type?: string | undefined;
  client_assertion?: string | undefined;
  scope?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  code?: string | undefined;
  redirect_uri?: string | undefined;
  code_verifier?: string | undefined;
  refresh_token?: string | undefined;
  client_info?: string | undefined;
}

export interface GrantContext {
  deps: TokenDeps & { dialect: Dialect };
  form: TokenForm;
  credentials: ClientCredentials;
  tenantSegment: string;
  address: string;
  /** The request came from a web page of another origin (it has an Origin header): a single-page app's. */
  fromBrowser: boolean;
  reply: FastifyReply;
  throttle: SignInThrottle;
}

export interface TokenResponse {
  token_type: 'Bearer';
  scope?: string;
  expires_in: number;
  ext_expires_in: number;
  access_token: string;
  refresh_token?: string;
  refresh_token_expires_in?: number;
  id_token?: string;
  client_info?: string;
}

export interface UserTokenInput {
  app: AppRegistration;
  clientAuth: ClientAuthMethod;
  user: DirectoryUser;
  request: ScopeRequest;
  granted: readonly GraphScope[];
  scopeText: string;
  nonce?: string | undefined;
  refreshToken?: { token: string; expiresIn: number } | undefined;
}

/** A user's access token for the requested resource, with an ID token, refresh token and client_info as asked. */
export async function userTokenResponse(context: GrantContext, input: UserTokenInput): Promise<TokenResponse> {
  const { deps, form } = context;
  const { accessToken, expiresIn } = await issueAccessToken(
    deps,
    { kind: 'user', user: input.user, scopes: input.granted, clientId: input.app.clientId },
    { audience: audienceFor(input.request.resource, deps.publicUrl), clientAuth: input.clientAuth },
  );
  const openid = input.request.oidc.has('openid');
  return {
    token_type: 'Bearer',
    scope: input.scopeText,
    expires_in: expiresIn,
    ext_expires_in: expiresIn,
    access_token: accessToken,
    ...(input.refreshToken
      ? { refresh_token: input.refreshToken.token, refresh_token_expires_in: input.refreshToken.expiresIn }
      : {}),
    ...(openid
      ? {
          id_token: await issueIdToken(deps, {
            user: input.user,
            clientId: input.app.clientId,
            nonce: input.nonce,
            profile: input.request.oidc.has('profile'),
            email: input.request.oidc.has('email'),
          }),
        }
      : {}),
    ...(form.client_info === '1' ? { client_info: clientInfo(input.user.id, await tenantId(deps.db)) } : {}),
  };
}
