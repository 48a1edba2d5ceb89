import { Type } from '@sinclair/typebox';
import type { App } from '../http/types.js';
import type { Services } from '../services.js';
import { authorizationCodeGrant, refreshTokenGrant } from './code-grants.js';
import { entraError, tenantNotFound } from './entra-errors.js';
import { clientCredentialsGrant, passwordGrant } from './grants.js';
import { tenantIsOurs } from './tenants.js';
import type { GrantContext, TokenForm, TokenResponse } from './token-context.js';

// Entra's token endpoint, POST /{tenant}/oauth2/v2.0/token. Each grant is one function
// (grants.ts, code-grants.ts); this file reads the request, finds the grant and answers errors in
// Entra's envelope (entra-errors.ts).

const TokenRequest = Type.Object(
  {
    grant_type: Type.Optional(
      Type.String({ description: 'client_credentials, password, authorization_code or refresh_token' }),
    ),
    client_id: Type.Optional(Type.String()),
    client_secret: Type.Optional(Type.String()),
    client_assertion_type: Type.Optional(
      Type.String({ description: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' }),
    ),
    client_assertion: Type.Optional(Type.String({ description: 'A JWT signed with a registered certificate’s key' })),
    scope: Type.Optional(
      Type.String({
        description:
          'https://graph.microsoft.com/.default, https://<tenant>-my.sharepoint.com/.default, or Graph scope names',
      }),
    ),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
    code: Type.Optional(Type.String()),
    redirect_uri: Type.Optional(Type.String()),
    code_verifier: Type.Optional(Type.String()),
    refresh_token: Type.Optional(Type.String()),
    client_info: Type.Optional(Type.String({ description: '1 asks for client_info in the answer' })),
  },
  { additionalProperties: true },
);

const TokenAnswer = Type.Object({
  token_type: Type.Literal('Bearer'),
  scope: Type.Optional(Type.String()),
  expires_in: Type.Integer(),
  ext_expires_in: Type.Integer(),
  access_token: Type.String(),
  refresh_token: Type.Optional(Type.String()),
  refresh_token_expires_in: Type.Optional(Type.Integer()),
  id_token: Type.Optional(Type.String()),
  client_info: Type.Optional(Type.String()),
});

export const EntraErrorSchema = Type.Object({
  error: Type.String(),
  error_description: Type.String(),
  error_codes: Type.Array(Type.Integer()),
  timestamp: Type.String(),
  trace_id: Type.String(),
  correlation_id: Type.String(),
  suberror: Type.Optional(Type.String()),
});

const GRANTS: Record<string, (context: GrantContext) => Promise<TokenResponse>> = {
  client_credentials: clientCredentialsGrant,
  password: passwordGrant,
  authorization_code: authorizationCodeGrant,
  refresh_token: refreshTokenGrant,
};

function basicCredentials(header: string | undefined): [string | undefined, string | undefined] {
  const match = header && /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match?.[1]) return [undefined, undefined];
  const text = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return [undefined, undefined];
  try {
    return [decodeURIComponent(text.slice(0, colon)), decodeURIComponent(text.slice(colon + 1))];
  } catch {
    return [undefined, undefined];
  }
}

/** Header names a browser may ask to send (MSAL Browser adds X-AnchorMailbox, which needs a preflight). */
const HEADER_LIST = /^[A-Za-z0-9-]+(\s*,\s*[A-Za-z0-9-]+)*$/;

export function tokenRoutes(app: App, services: Services): void {
  // The browser's question before MSAL Browser posts to the token endpoint from another origin.
  // The endpoint takes no cookies, so any origin may ask, as Entra allows single-page apps.
  app.options(
    '/:tenant/oauth2/v2.0/token',
    {
      schema: {
        summary: 'CORS preflight of the token endpoint, for single-page apps (MSAL Browser)',
        tags: ['auth'],
        security: [],
        params: Type.Object({ tenant: Type.String({ maxLength: 256 }) }),
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      const asked = request.headers['access-control-request-headers'];
      return reply
        .status(204)
        .header('access-control-allow-origin', '*')
        .header('access-control-allow-methods', 'POST, OPTIONS')
        .header(
          'access-control-allow-headers',
          typeof asked === 'string' && HEADER_LIST.test(asked) ? asked : 'content-type',
        )
        .header('access-control-max-age', '86400')
        .send(null);
    },
  );

  const { db, dialect, reads } = services.database;
  // The password grant guesses passwords as well as the sign-in form does: the same count applies.
  const throttle = services.signInThrottle;
  app.post(
    '/:tenant/oauth2/v2.0/token',
    {
      schema: {
        summary:
          'Access token (Entra ID v2.0 token endpoint): client credentials, password, authorization code, refresh token',
        description:
          'Form-encoded like Entra: grant_type=client_credentials&client_id=…&client_secret=…&scope=https://graph.microsoft.com/.default. ' +
          'The client authenticates with client_secret (or HTTP Basic) or a certificate (client_assertion), or not at all for a ' +
          'public client with PKCE. The tenant is the tenant id, a domain of the organisation, organizations or common.',
        tags: ['auth'],
        security: [],
        params: Type.Object({ tenant: Type.String({ maxLength: 256 }) }),
        consumes: ['application/x-www-form-urlencoded'],
        body: TokenRequest,
        response: { 200: TokenAnswer, 400: EntraErrorSchema, 401: EntraErrorSchema },
      },
      config: { envelope: 'entra' },
    },
    async (request, reply) => {
      const { tenant } = request.params;
      // Entra reads a form and nothing else: a JSON body's fields are not parameters.
      const isForm = /^application\/x-www-form-urlencoded\b/i.test(request.headers['content-type'] ?? '');
      const form = (isForm ? request.body : {}) as TokenForm;
      if (!(await tenantIsOurs(db, dialect, tenant))) {
        throw tenantNotFound(tenant, 'invalid_request');
      }
      const grantType = form.grant_type;
      if (!grantType) {
        throw entraError(
          400,
          'invalid_request',
          900144,
          "The request body must contain the following parameter: 'grant_type'.",
        );
      }
      const grant = Object.hasOwn(GRANTS, grantType) ? GRANTS[grantType] : undefined;
      if (!grant) {
        throw entraError(
          400,
          'unsupported_grant_type',
          70003,
          `The app requested an unsupported grant type '${grantType}'.`,
        );
      }
      const [basicId, basicSecret] = basicCredentials(request.headers.authorization);
      const context: GrantContext = {
        deps: { db, dialect, publicUrl: services.config.publicUrl, reads },
        form,
        credentials: {
          clientId: form.client_id ?? basicId,
          clientSecret: form.client_secret ?? basicSecret,
          assertionType: form.client_assertion_type,
          assertion: form.client_assertion,
        },
        tenantSegment: tenant,
        address: request.ip,
        fromBrowser: request.headers.origin !== undefined,
        reply,
        throttle,
      };
      const answer = await grant(context);
      void reply
        .header('cache-control', 'no-store')
        .header('pragma', 'no-cache')
        // Single-page apps redeem their codes from the browser (MSAL Browser); the answer holds no cookie.
        .header('access-control-allow-origin', '*');
      return answer;
    },
  );
}
