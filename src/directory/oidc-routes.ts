import { Type } from '@sinclair/typebox';
import type { App } from '../http/types.js';
import type { Services } from '../services.js';
import { entraError, tenantNotFound } from './entra-errors.js';
import { OIDC_SCOPES } from './scope-request.js';
import { tenantId } from './settings.js';
import { publishedKeys } from './signing-keys.js';
import { MULTI_TENANT_SEGMENTS, tenantIsOurs } from './tenants.js';
import { issuerFor } from './tokens.js';
import { EntraErrorSchema } from './token-routes.js';

// OpenID Connect discovery as Entra publishes it, so that MSAL needs only `authority` (and
// `knownAuthorities`): the tenant's metadata at /{tenant}/v2.0/.well-known/openid-configuration
// (and without v2.0, which MSAL asks for when the authority ends in v2.0/), the signing keys
// (JWKS), and instance discovery, which answers for this server's own host as Entra's answers for
// login.microsoftonline.com.

const TenantParams = Type.Object({ tenant: Type.String({ maxLength: 256 }) });
const OpenIdConfiguration = Type.Object(
  {
    issuer: Type.String(),
    authorization_endpoint: Type.String(),
    end_session_endpoint: Type.String(),
    token_endpoint: Type.String(),
    jwks_uri: Type.String(),
  },
  { additionalProperties: true },
);
const Jwks = Type.Object({
  keys: Type.Array(
    Type.Object({
      kty: Type.String(),
      use: Type.String(),
      alg: Type.String(),
      kid: Type.String(),
      n: Type.String(),
      e: Type.String(),
    }),
  ),
});
const InstanceQuery = Type.Object(
  {
    'api-version': Type.Optional(Type.String({ maxLength: 20 })),
    authorization_endpoint: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: true },
);
const InstanceDiscovery = Type.Object({
  tenant_discovery_endpoint: Type.String(),
  'api-version': Type.String(),
  metadata: Type.Array(
    Type.Object({
      preferred_network: Type.String(),
      preferred_cache: Type.String(),
      aliases: Type.Array(Type.String()),
    }),
  ),
});

const ONE_HOUR = 'public, max-age=3600';

export function oidcRoutes(app: App, services: Services): void {
  const { db, dialect } = services.database;
  // Read per request: with PORT=0 the public URL is known only once the server listens.
  const base = () => {
    const { publicUrl } = services.config;
    return { publicUrl, host: new URL(publicUrl).host };
  };

  /** The tenant as the URLs name it: a fixed tenant becomes its id; common and organizations stay. */
  async function resolvedTenant(tenant: string): Promise<{ segment: string; issuerTenant: string }> {
    if (!(await tenantIsOurs(db, dialect, tenant))) {
      throw tenantNotFound(tenant, 'invalid_tenant');
    }
    const multi = (MULTI_TENANT_SEGMENTS as readonly string[]).includes(tenant.toLowerCase());
    const id = await tenantId(db);
    return multi ? { segment: tenant.toLowerCase(), issuerTenant: '{tenantid}' } : { segment: id, issuerTenant: id };
  }

  const configurationSchema = (summary: string) => ({
    schema: {
      summary,
      tags: ['auth'],
      security: [],
      params: TenantParams,
      response: { 200: OpenIdConfiguration, 400: EntraErrorSchema },
    },
    config: { envelope: 'entra' as const },
  });
  const configuration = async (
    request: { params: { tenant: string } },
    reply: { header: (n: string, v: string) => unknown },
  ) => {
    const { segment, issuerTenant } = await resolvedTenant(request.params.tenant);
    const { publicUrl, host } = base();
    const tenantBase = `${publicUrl}/${segment}`;
    void reply.header('cache-control', ONE_HOUR);
    void reply.header('access-control-allow-origin', '*');
    return {
      token_endpoint: `${tenantBase}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${tenantBase}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code'],
      scopes_supported: [...OIDC_SCOPES],
      issuer: issuerFor(publicUrl, issuerTenant),
      request_uri_parameter_supported: false,
      authorization_endpoint: `${tenantBase}/oauth2/v2.0/authorize`,
      end_session_endpoint: `${tenantBase}/oauth2/v2.0/logout`,
      code_challenge_methods_supported: ['S256'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials', 'password'],
      claims_supported: [
        'sub',
        'iss',
        'aud',
        'exp',
        'iat',
        'nonce',
        'preferred_username',
        'name',
        'tid',
        'oid',
        'ver',
        'email',
      ],
      tenant_region_scope: null,
      cloud_instance_name: host,
      cloud_graph_host_name: host,
      msgraph_host: host,
    };
  };
  app.get(
    '/:tenant/v2.0/.well-known/openid-configuration',
    configurationSchema('OpenID Connect metadata of the tenant (Entra ID v2.0)'),
    configuration,
  );
  app.get(
    '/:tenant/.well-known/openid-configuration',
    configurationSchema('OpenID Connect metadata of the tenant, at the address MSAL uses for a …/v2.0 authority'),
    configuration,
  );

  const keysSchema = (summary: string) => ({
    schema: {
      summary,
      tags: ['auth'],
      security: [],
      params: TenantParams,
      response: { 200: Jwks, 400: EntraErrorSchema },
    },
    config: { envelope: 'entra' as const },
  });
  const keys = async (
    request: { params: { tenant: string } },
    reply: { header: (n: string, v: string) => unknown },
  ) => {
    await resolvedTenant(request.params.tenant);
    void reply.header('cache-control', ONE_HOUR);
    void reply.header('access-control-allow-origin', '*');
    return { keys: await publishedKeys(db) };
  };
  app.get('/:tenant/discovery/v2.0/keys', keysSchema('The keys that sign tokens (JWKS, RS256)'), keys);
  app.get('/:tenant/discovery/keys', keysSchema('The keys that sign tokens (JWKS, RS256), v1 address'), keys);

  app.get(
    '/common/discovery/instance',
    {
      schema: {
        summary: "Instance discovery, as Entra's: answers for this server's own host",
        tags: ['auth'],
        security: [],
        querystring: InstanceQuery,
        response: { 200: InstanceDiscovery, 400: EntraErrorSchema },
      },
      config: { envelope: 'entra' as const },
    },
    async (request, reply) => {
      let asked: URL | undefined;
      try {
        asked = new URL(request.query.authorization_endpoint ?? '');
      } catch {
        asked = undefined;
      }
      const { publicUrl, host } = base();
      if (!asked || asked.origin !== new URL(publicUrl).origin) {
        throw entraError(400, 'invalid_instance', 50049, 'Unknown or invalid instance.');
      }
      const tenant = asked.pathname.split('/').find((p) => p !== '') ?? 'common';
      void reply.header('cache-control', ONE_HOUR);
      void reply.header('access-control-allow-origin', '*');
      return {
        tenant_discovery_endpoint: `${publicUrl}/${encodeURIComponent(tenant)}/v2.0/.well-known/openid-configuration`,
        'api-version': '1.1',
        metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
      };
    },
  );
}
