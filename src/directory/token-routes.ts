import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import type { App } from '../http/types.js';
import { createSignInThrottle } from './sign-in-throttle.js';
import type { Services } from '../services.js';
import type { Db } from '../storage/database.js';
import { appForCredentials, findApp, issueAccessToken, tenantId, type TokenSubject } from './apps.js';
import { DEFAULT_DELEGATED_SCOPES, GRAPH_SCOPES, type GraphScope } from './scopes.js';
import { authenticate as authenticatePassword } from './users.js';

// Entra's token endpoint, POST /{tenant}/oauth2/v2.0/token: client credentials for daemons (the
// app's granted scopes become `roles`) and the resource-owner password grant for scripts acting as
// a user. Errors use Entra's body: error, error_description with an AADSTS number, error_codes.

const TokenRequest = Type.Object(
  {
    grant_type: Type.Optional(Type.String({ description: 'client_credentials or password' })),
    client_id: Type.Optional(Type.String()),
    client_secret: Type.Optional(Type.String()),
    scope: Type.Optional(Type.String({ description: 'https://graph.microsoft.com/.default, or Graph scope names' })),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);

const TokenResponse = Type.Object({
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  ext_expires_in: Type.Integer(),
  access_token: Type.String(),
  scope: Type.Optional(Type.String()),
});

const TokenError = Type.Object({
  error: Type.String(),
  error_description: Type.String(),
  error_codes: Type.Array(Type.Integer()),
  timestamp: Type.String(),
  trace_id: Type.String(),
  correlation_id: Type.String(),
});

/** Resource ids a client may name in `scope`: Graph's, by URL or app id, and this server's own URL. */
const GRAPH_RESOURCES = ['https://graph.microsoft.com', '00000003-0000-0000-c000-000000000000'];

class TokenFailure extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly aadsts: number,
    description: string,
  ) {
    super(description);
  }
}
const fail = (status: number, error: string, aadsts: number, description: string) =>
  new TokenFailure(status, error, aadsts, description);

function sendTokenError(reply: FastifyReply, error: TokenFailure) {
  const now = new Date();
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = now
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  return reply
    .status(error.status)
    .header('cache-control', 'no-store')
    .send({
      error: error.error,
      error_description: `AADSTS${error.aadsts}: ${error.message} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [error.aadsts],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
    });
}

/** The tenant segment: the tenant id, a domain the organisation's users have, or organizations/common. */
async function tenantIsOurs(db: Db, tenant: string): Promise<boolean> {
  const value = tenant.toLowerCase();
  if (value === 'organizations' || value === 'common') return true;
  if (value === (await tenantId(db))) return true;
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(value)) return false;
  const row = await db
    .selectFrom('directory_users')
    .select('id')
    .where('upn', 'like', `%@${value}`)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Delegated scopes asked for: `.default` means the default set; names may carry Graph's resource prefix. */
function requestedDelegatedScopes(scope: string, publicUrl: string): GraphScope[] {
  const scopes = new Set<GraphScope>();
  for (const word of scope.split(/\s+/).filter((w) => w !== '')) {
    if (['openid', 'profile', 'offline_access', 'email'].includes(word)) continue;
    const slash = word.lastIndexOf('/');
    const resource = slash >= 0 ? word.slice(0, slash) : '';
    const name = slash >= 0 ? word.slice(slash + 1) : word;
    if (resource !== '' && !GRAPH_RESOURCES.includes(resource) && resource !== publicUrl) {
      throw fail(
        400,
        'invalid_resource',
        500011,
        `The resource principal named ${resource} was not found in the tenant.`,
      );
    }
    if (name === '.default') {
      DEFAULT_DELEGATED_SCOPES.forEach((s) => scopes.add(s));
      continue;
    }
    const known = GRAPH_SCOPES.find((s) => s.toLowerCase() === name.toLowerCase());
    if (!known)
      throw fail(
        400,
        'invalid_scope',
        70011,
        `The provided value for the input parameter 'scope' is not valid. The scope ${word} is not valid.`,
      );
    scopes.add(known);
  }
  if (scopes.size === 0)
    throw fail(400, 'invalid_scope', 70011, "The provided value for the input parameter 'scope' is not valid.");
  return GRAPH_SCOPES.filter((s) => scopes.has(s));
}

export function tokenRoutes(app: App, services: Services): void {
  const { db } = services.database;
  // The password grant guesses passwords as well as the sign-in form does: the same limits apply.
  const throttle = createSignInThrottle({ windowMs: 15 * 60_000, perAccount: 5, perAddress: 100 });
  app.post(
    '/:tenant/oauth2/v2.0/token',
    {
      schema: {
        summary: 'Access token (Entra ID v2.0 token endpoint): client credentials or password grant',
        description:
          'Form-encoded like Entra: grant_type=client_credentials&client_id=…&client_secret=…&scope=https://graph.microsoft.com/.default. ' +
          'The client may also authenticate with HTTP Basic. The tenant is the tenant id, a domain of the organisation, organizations or common.',
        tags: ['auth'],
        security: [],
        params: Type.Object({ tenant: Type.String({ maxLength: 256 }) }),
        consumes: ['application/x-www-form-urlencoded'],
        body: TokenRequest,
        response: { 200: TokenResponse, 400: TokenError, 401: TokenError },
      },
      errorHandler: (error, _request, reply) => {
        if (error instanceof TokenFailure) return sendTokenError(reply, error);
        const status = (error as { statusCode?: number }).statusCode;
        if (status && status >= 400 && status < 500) {
          return sendTokenError(
            reply,
            fail(400, 'invalid_request', 900144, `The request is not valid: ${error.message}.`),
          );
        }
        throw error;
      },
    },
    async (request, reply) => {
      const { tenant } = request.params;
      const body = request.body;
      if (!(await tenantIsOurs(db, tenant))) {
        throw fail(
          400,
          'invalid_request',
          90002,
          `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
        );
      }
      const [basicId, basicSecret] = basicCredentials(request.headers.authorization);
      const clientId = body.client_id ?? basicId;
      const clientSecret = body.client_secret ?? basicSecret;
      const grant = body.grant_type;
      if (!grant)
        throw fail(
          400,
          'invalid_request',
          900144,
          "The request body must contain the following parameter: 'grant_type'.",
        );
      if (grant !== 'client_credentials' && grant !== 'password') {
        throw fail(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grant}'.`);
      }
      if (!clientId)
        throw fail(
          400,
          'invalid_request',
          900144,
          "The request body must contain the following parameter: 'client_id'.",
        );
      if (!body.scope)
        throw fail(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'scope'.");

      let subject: TokenSubject;
      if (grant === 'client_credentials') {
        if (!clientSecret) {
          throw fail(
            401,
            'invalid_client',
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
          );
        }
        const scope = body.scope.trim();
        const resource = scope.endsWith('/.default') ? scope.slice(0, -'/.default'.length) : undefined;
        if (resource === undefined) {
          throw fail(
            400,
            'invalid_scope',
            1002012,
            `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
          );
        }
        if (!GRAPH_RESOURCES.includes(resource) && resource !== services.config.publicUrl) {
          throw fail(
            400,
            'invalid_resource',
            500011,
            `The resource principal named ${resource} was not found in the tenant.`,
          );
        }
        const registered = await appForCredentials(db, clientId, clientSecret);
        if (!registered) {
          throw fail(
            401,
            'invalid_client',
            7000215,
            'Invalid client secret provided, or no application with this client id. Ensure the secret being sent in the request is the client secret value.',
          );
        }
        subject = { kind: 'app', app: registered };
      } else {
        const scopes = requestedDelegatedScopes(body.scope, services.config.publicUrl);
        if (clientSecret !== undefined && !(await appForCredentials(db, clientId, clientSecret))) {
          throw fail(
            401,
            'invalid_client',
            7000215,
            'Invalid client secret provided, or no application with this client id.',
          );
        }
        // A public client (no secret) must still be a registered app, as in Entra.
        if (clientSecret === undefined && !(await findApp(db, clientId))) {
          throw fail(
            400,
            'unauthorized_client',
            700016,
            `Application with identifier '${clientId}' was not found in the directory. This can happen if the application has not been registered (photosync apps add).`,
          );
        }
        if (!body.username || !body.password) {
          throw fail(
            400,
            'invalid_request',
            900144,
            "The request body must contain the following parameters: 'username' and 'password'.",
          );
        }
        const wait = throttle.retryAfter(request.ip, body.username);
        if (wait > 0) {
          void reply.header('retry-after', Math.ceil(wait / 1000));
          throw fail(
            400,
            'invalid_grant',
            50053,
            `Too many failed sign-ins for this account from this address; try again in ${Math.ceil(wait / 60_000)} minutes.`,
          );
        }
        throttle.recordAttempt(request.ip, body.username);
        const user = await authenticatePassword(db, body.username, body.password);
        if (user) throttle.forgive(request.ip, body.username);
        if (!user)
          throw fail(400, 'invalid_grant', 50126, 'Error validating credentials due to invalid username or password.');
        subject = { kind: 'user', user, scopes, clientId };
      }
      const { accessToken, expiresIn } = await issueAccessToken({ db, publicUrl: services.config.publicUrl }, subject);
      void reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      return {
        token_type: 'Bearer' as const,
        expires_in: expiresIn,
        ext_expires_in: expiresIn,
        access_token: accessToken,
        ...(subject.kind === 'user' ? { scope: subject.scopes.join(' ') } : {}),
      };
    },
  );
}

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
