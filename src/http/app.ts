import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import helmet, { type HelmetOptions } from 'helmet';
import Fastify, {
  LogController,
  type FastifyReply,
  type FastifyBaseLogger,
  type FastifyInstance,
  type RawServerDefault,
} from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sql } from 'kysely';
import { adminRoutes } from '../admin/routes.js';
import { authorizeRoutes } from '../directory/authorize-routes.js';
import { oidcRoutes } from '../directory/oidc-routes.js';
import { tokenRoutes } from '../directory/token-routes.js';
import { GraphErrorBody } from '../graph/errors.js';
import { graphRoutes } from '../graph/routes.js';
import { portalRoutes } from '../portal/routes.js';
import type { Services } from '../services.js';
import { sitePageRoutes } from '../sites/page-routes.js';
import { sharePointRestRoutes } from '../sites/rest-api.js';
import { siteRoutes } from '../sites/routes.js';
import { installErrorHandler } from './errors.js';
import { LazyChildLogger } from './lazy-logger.js';
import { ErrorResponse } from './schemas.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route answers with a picture: it gets the picture's security headers, not a page's. */
    picture?: boolean;
  }
}

/** Builds the whole HTTP app without listening, so tests can use app.inject() or a real port. */
export type App = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export async function buildApp(services: Services): Promise<App> {
  const { tls } = services.config;
  const app = Fastify({
    // With a certificate the server speaks https itself (photosync dev-cert makes one for localhost).
    ...(tls ? { https: { cert: tls.cert, key: tls.key } } : {}),
    loggerInstance: services.log as FastifyBaseLogger,
    // Request lines only when debugging: at serving rates they would dominate the log.
    logController: new LogController({
      disableRequestLogging: services.config.logLevel !== 'debug' && services.config.logLevel !== 'trace',
    }),
    // The request-bound logger is made when the request logs something, not for every request.
    childLoggerFactory: (logger, bindings, options) => new LazyChildLogger(logger, bindings, options),
    trustProxy: false,
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength: 300 },
    // Some HTTP clients escape Graph's `$value` segment; the router matches it either way.
    rewriteUrl: (request) =>
      (request.url ?? '/').replace(/^(\/v1\.0\/[^?]*\/)%24value(?=$|[?/])/i, (_match, head: string) => `${head}$value`),
    // Errors Fastify raises before any route runs (a malformed URL) get the one error shape too.
    frameworkErrors: (error, _request, reply: FastifyReply) => {
      const message = error.code === 'FST_ERR_BAD_URL' ? 'The address is not a valid URL.' : error.message;
      void reply.status(400).send({ error: { code: 'invalid_request', message } });
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Tier 1: external plugins.
  await app.register(cookie);
  await app.register(formbody);
  const https = services.config.publicUrl.startsWith('https:');
  const securityHeaders = helmetHeaders({
    // HSTS and upgrade-insecure-requests only make sense when the site is served over https.
    strictTransportSecurity: https,
    contentSecurityPolicy: {
      directives: {
        upgradeInsecureRequests: https ? [] : null,
        defaultSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        styleSrc: ["'self'"],
        scriptSrc: ["'self'"],
        frameAncestors: ["'none'"],
        formAction: ["'self'"],
      },
    },
    crossOriginResourcePolicy: { policy: 'same-origin' },
  });
  const pictureHeaders = pictureSecurityHeaders(securityHeaders);
  // The same headers on every answer, so they are worked out once instead of per request.
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(request.routeOptions.config.picture ? pictureHeaders : securityHeaders);
    done();
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'photosync',
        description: "Profile pictures: the mail photo store, the sites' renditions and the sync between them.",
        version: '0.1.0',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'photosync token create <upn>, or an access token from POST /{tenant}/oauth2/v2.0/token',
          },
          session: { type: 'apiKey', in: 'cookie', name: 'photosync_session' },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
  });
  app.addSchema(ErrorResponse);
  app.addSchema(GraphErrorBody);
  installErrorHandler(app);

  // Tier 2: operational endpoints.
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness and database reachability',
        tags: ['operations'],
        response: { 200: Type.Object({ status: Type.Literal('ok'), database: Type.String() }) },
      },
    },
    async () => {
      await sql`select 1`.execute(services.database.db);
      return { status: 'ok' as const, database: services.database.dialect };
    },
  );
  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', tags: ['operations'], response: { 200: Type.String() } } },
    async (_request, reply) => {
      reply.type(services.metrics.registry.contentType);
      return services.metrics.registry.metrics();
    },
  );

  app.get(
    '/openapi.json',
    {
      schema: {
        summary: 'This API as an OpenAPI 3 document',
        tags: ['operations'],
        response: { 200: Type.Object({}, { additionalProperties: true }) },
      },
    },
    () => app.swagger(),
  );

  // Tier 3: the roles' routes.
  siteRoutes(app, services);
  tokenRoutes(app, services);
  oidcRoutes(app, services);
  await app.register((graph) => graphRoutes(graph as App, services), { prefix: '/v1.0' });
  await app.register((rest) => sharePointRestRoutes(rest as App, services), { prefix: '/_api' });
  await app.register(async (portal) => {
    await portalRoutes(portal as App, services);
    await sitePageRoutes(portal as App, services);
    // Entra's sign-in page for apps is the portal's own, with its form protection.
    authorizeRoutes(portal as App, services);
  });
  await app.register((admin) => adminRoutes(admin as App, services));
  return app;
}

/**
 * What a picture (or its JSON error) needs of the page headers: never sniffed as another type,
 * never shown inside another site's page or read by one, nothing active if opened on its own, and
 * HSTS. The rest (referrer, opener, DNS prefetch, download, Flash and XSS-filter policies) govern
 * documents; leaving them off halves the bytes of a picture's headers, which count at serving rates.
 */
function pictureSecurityHeaders(document: Record<string, string>): Record<string, string> {
  const kept = [
    'x-content-type-options',
    'cross-origin-resource-policy',
    'x-frame-options',
    'strict-transport-security',
  ];
  return {
    'content-security-policy': "default-src 'none'; frame-ancestors 'none'; sandbox",
    ...Object.fromEntries(kept.flatMap((name) => (document[name] === undefined ? [] : [[name, document[name]]]))),
  };
}

/** The headers helmet would set with `options`, worked out once by running it on a stand-in response. */
function helmetHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  let ran = false;
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => {
    if (error) throw error instanceof Error ? error : new Error(String(error));
    ran = true;
  });
  // Helmet's middleware is synchronous; a version that is not would leave the headers unset.
  if (!ran) throw new Error('helmet did not finish synchronously');
  return headers;
}
