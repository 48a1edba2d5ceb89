import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import { Type } from '@sinclair/typebox';
import helmet, { type HelmetOptions } from 'helmet';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { sql } from 'kysely';
import { promptBannerFor, tenantPromptBanner } from './admin/banner.js';
import { createConnectPortal } from './m365/portal-routes.js';
import { adminRoutes } from './admin/routes.js';
import type { DirectoryUser } from './directory/users.js';
import { authorizeRoutes } from './directory/authorize-routes.js';
import { oidcRoutes } from './directory/oidc-routes.js';
import { tokenRoutes } from './directory/token-routes.js';
import { tenantId } from './directory/settings.js';
import { GraphErrorBody, renderGraphError } from './graph/errors.js';
import { graphRoutes } from './graph/routes.js';
import { portalRoutes } from './portal/routes.js';
import { sitesLagOf } from './portal/sites-lag.js';
import type { Services } from './services.js';
import { sitePageRoutes } from './sites/page-routes.js';
import { sharePointRestRoutes } from './sites/rest-api.js';
import { createPictureAnswers } from './sites/picture-answers.js';
import { siteRoutes } from './sites/routes.js';
import { webAssetRoutes } from './web/asset-routes.js';
import type { PageContext } from './web/layout.js';
import { AppError, serviceUnavailable } from './errors.js';
import { requestAuthentication, type RouteAuth } from './http/auth.js';
import { createBodyBudget, type BodyBudgetLimits } from './http/body-budget.js';
import { clientErrorHandler } from './http/client-errors.js';
import { headTooLarge, READ_REQUEST_HEAD_BYTES } from './http/request-head.js';
import { renderEntraError } from './directory/entra-error-renderer.js';
import {
  bodyStillArriving,
  errorResponder,
  installErrorHandler,
  installNotFoundHandler,
  renderJsonError,
  routeMethods,
  type ErrorHandling,
} from './http/errors.js';
import { createSharePointErrorRenderer, sharePointChallenge } from './sites/rest-errors.js';
import { createPageErrorRenderer } from './web/error-page.js';
import type { Locale } from './web/i18n.js';
import { requestTimeoutPage } from './web/message-page.js';
import { ANYONE, requestLocale } from './web/page-context.js';
import { LazyChildLogger } from './http/lazy-logger.js';
import { ErrorResponse } from './http/schemas.js';
import { routeDefaults, type App, type Envelope } from './http/types.js';
import { createReadinessCheck, withinProbeTime } from './storage/readiness.js';
import { storageFaultOf } from './storage/faults.js';

export type { App };

/** Builds the whole HTTP app without listening, so tests can use app.inject() or a real port. */
/** The connections whose request is a page's form still arriving, with the page's language. */
const formsArriving = new WeakMap<object, Locale>();

function rememberForm(request: FastifyRequest, reply: FastifyReply): void {
  const socket = request.raw.socket;
  formsArriving.set(socket, requestLocale(request));
  reply.raw.once('close', () => formsArriving.delete(socket));
}

export interface AppOptions {
  /** Room in memory for request bodies arriving at once (DEFAULT_BODY_BUDGET). */
  bodyBudget?: BodyBudgetLimits;
}

export async function buildApp(services: Services, options: AppOptions = {}): Promise<App> {
  const securityHeaders = documentSecurityHeaders(
    services.config.publicUrl.startsWith('https:'),
    isLoopbackHost(new URL(services.config.publicUrl).hostname),
  );
  const renderPageError = createPageErrorRenderer(services.database.db);
  // The tenant id never changes once made: read at the first SharePoint 401, then kept.
  let tenant: Promise<string> | undefined;
  const tenantOnce = () => {
    tenant ??= tenantId(services.database.db).catch((error: unknown) => {
      tenant = undefined;
      throw error;
    });
    return tenant;
  };
  const sitesChallenge = sharePointChallenge(
    () => tenantOnce(),
    (id) => `${services.config.publicUrl}/${id}/oauth2/v2.0/authorize`,
  );
  const errors: ErrorHandling = {
    renderers: {
      // A page answered at a picture's address (a bad size, an unknown file) is a document: it
      // takes the pages' headers, or the picture's policy would block its stylesheets and script.
      page: (request, reply, error) => {
        if (request.routeOptions.config.picture) reply.headers(securityHeaders);
        return renderPageError(request, reply, error);
      },
      graph: renderGraphError,
      sharepoint: createSharePointErrorRenderer(sitesChallenge),
      entra: renderEntraError,
      json: async (request, reply, error) => {
        // A picture's address is SharePoint's: its 401 names the realm, as the REST API's does.
        if (request.routeOptions.config.picture) await sitesChallenge(reply, error);
        return renderJsonError(request, reply, error);
      },
    },
    envelopeOfAddress: (request) => envelopeOfAddress(request.url, request.headers.accept),
    logs: (level) => services.log.isLevelEnabled(level),
  };
  const respond = errorResponder(errors);
  const { tls, deadlines } = services.config;
  // A client gets this long for the request line and headers, and for the whole request with its
  // body; Node checks every second (its default, 30 s, would let a deadline run that much over).
  const timeouts = {
    headersTimeout: deadlines.headersSeconds * 1000,
    requestTimeout: deadlines.requestSeconds * 1000,
    connectionsCheckingInterval: 1000,
  };
  // Pictures asked for again get their kept answers before the framework sees the request.
  const answers = createPictureAnswers(
    services.database.reads,
    services.metrics.picturesFromMemory,
    services.pictureBytes,
    (error) =>
      services.log.warn({ err: error }, 'a kept picture answer could not be given; the request takes the whole path'),
  );
  const app = Fastify({
    // With a certificate the server speaks https itself (photosync dev-cert makes one for localhost).
    // The server is made here so that each request goes to the kept answers first; the rest is
    // what Fastify does with the servers it makes.
    serverFactory: (handler, options) => {
      const listener = (req: IncomingMessage, res: ServerResponse) => answers.serve(req, res, handler);
      // Node reads heads larger than photosync takes, so that the first hook refuses them with the
      // request parsed (src/http/request-head.ts).
      const reading = { ...timeouts, maxHeaderSize: READ_REQUEST_HEAD_BYTES };
      const server = tls
        ? https.createServer({ cert: tls.cert, key: tls.key, ...reading }, listener)
        : http.createServer(reading, listener);
      const set = options as { keepAliveTimeout: number; requestTimeout: number; connectionTimeout: number };
      server.keepAliveTimeout = set.keepAliveTimeout;
      server.requestTimeout = set.requestTimeout;
      server.setTimeout(set.connectionTimeout);
      return server as http.Server;
    },
    requestTimeout: timeouts.requestTimeout,
    // Bytes that are not HTTP and deadlines missed get the one JSON shape and the security headers.
    clientErrorHandler: clientErrorHandler({
      deadlines,
      securityHeaders,
      log: services.log as FastifyBaseLogger,
      // A page's form whose body was still arriving at its deadline: a page in the person's language.
      page: (socket, refusal) => {
        const locale = formsArriving.get(socket);
        return locale && refusal.id === 'request_timeout'
          ? requestTimeoutPage(locale, deadlines.requestSeconds)
          : undefined;
      },
    }),
    loggerInstance: services.log as FastifyBaseLogger,
    // Request lines only when debugging: at serving rates they would dominate the log.
    logController: new LogController({
      disableRequestLogging: services.config.logLevel !== 'debug' && services.config.logLevel !== 'trace',
    }),
    // The request-bound logger is made when the request logs something, not for every request.
    childLoggerFactory: (logger, bindings, options) => new LazyChildLogger(logger, bindings, options),
    // Behind a reverse proxy (PHOTOSYNC_TRUST_PROXY) the client's address is the one the proxy
    // saw, so per-address limits count clients, not the proxy; from anyone else the header is ignored.
    trustProxy: services.config.trustProxy ?? false,
    bodyLimit: 1024 * 1024,
    // SharePoint and Graph match paths without regard to case (parameters keep theirs).
    routerOptions: { maxParamLength: 300, caseSensitive: false },
    // Some HTTP clients escape Graph's `$value` segment; the router matches it either way.
    rewriteUrl: (request) =>
      (request.url ?? '/').replace(/^(\/v1\.0\/[^?]*\/)%24value(?=$|[?/])/i, (_match, head: string) => `${head}$value`),
    // Errors Fastify raises before any route runs (a malformed URL) get the one error shape too,
    // and the security headers, which the first hook would otherwise have set.
    frameworkErrors: (error, request, reply) => {
      reply.headers(securityHeaders);
      // No hook has run: the cookies a page reads (the session for the suite bar, the language) are read here.
      (request as { cookies?: FastifyRequest['cookies'] }).cookies ??= request.server.parseCookie(
        request.headers.cookie ?? '',
      );
      const message = error.code === 'FST_ERR_BAD_URL' ? 'The address is not a valid URL.' : error.message;
      respond(request, reply, { error: new AppError('invalid_request', message) }).catch((cause: unknown) => {
        request.log.error({ err: cause, url: request.url }, 'the answer to a malformed request failed');
        if (!reply.sent) reply.raw.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end(message);
      });
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // A JSON body that is empty is no body (PnPjs and SharePoint's own pages POST calls that take
  // no arguments with Content-Type: application/json and nothing after it); any other is parsed as
  // Fastify does, prototype poisoning refused.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined);
    return json(request, String(body), done);
  });

  // Tier 1: external plugins.
  await app.register(cookie);
  await app.register(formbody);
  const pictureHeaders = pictureSecurityHeaders(securityHeaders);
  const { db, reads } = services.database;
  const authenticate = requestAuthentication(app, { db, publicUrl: services.config.publicUrl, reads });
  // Every request's first step: the security headers (the same on every answer, so worked out
  // once), a head larger than photosync takes refused (in the address's envelope: a page for a
  // browser), then, for routes that declare `config.auth`, who is asking (a refusal carries the headers).
  app.addHook('onRequest', (request, reply, done) => {
    const config = request.routeOptions.config;
    reply.headers(config.picture ? pictureHeaders : securityHeaders);
    if (headTooLarge(request.raw)) {
      done(new AppError('headers_too_large', 'The request headers are too large.'));
      return;
    }
    if (config.envelope === 'page' && bodyStillArriving(request)) rememberForm(request, reply);
    if (config.auth) authenticate(request, config.auth, done);
    else done();
  });
  // Every answer counted by its route's pattern (never the address itself, which would make a
  // series per user), with how long it took.
  const { httpRequests, httpDuration } = services.metrics;
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    httpRequests.inc({ method: request.method, route, status: reply.statusCode });
    httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    done();
  });
  // Then, before a byte of a body is read: room for it in memory (src/http/body-budget.ts).
  const bodies = createBodyBudget(options.bodyBudget);
  app.addHook('preParsing', (request, reply, payload, done) => {
    const admitted = bodies.admit(request, reply, payload);
    if ('refused' in admitted) done(admitted.refused);
    else done(null, admitted.payload);
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
  const routes = routeMethods(app);
  errors.allowedMethods = routes.allowed;
  errors.canonicalPage = (request) => canonicalPage(request, routes.takes);
  installErrorHandler(app, errors);

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
      // A database that does not answer at all gets its 503 in time, as one that refuses does.
      await withinProbeTime(sql`select 1`.execute(services.database.db)).catch((error: unknown) => {
        if (storageFaultOf(error)) throw error;
        // Its words stay in the log: whoever probes may be anyone.
        services.log.warn({ err: error }, 'health check: the database did not answer');
        throw serviceUnavailable('The database did not answer.', 10, 'database_unavailable');
      });
      return { status: 'ok' as const, database: services.database.dialect };
    },
  );
  const readiness = createReadinessCheck({
    database: services.database,
    blobs: services.blobs,
    onProblem: (part, error) => services.log.error({ err: error, part }, 'readiness check failed'),
  });
  const ReadinessBody = Type.Object({
    status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
    database: Type.String({ description: "'ok', or what is wrong" }),
    photos: Type.String({ description: "'ok', or what is wrong" }),
  });
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: the database and the photo store really read',
        description:
          "Reads the first row of every table from what is stored now and a stored picture's bytes; 503 when either cannot be read.",
        tags: ['operations'],
        response: { 200: ReadinessBody, 503: ReadinessBody },
      },
    },
    async (_request, reply) => {
      const { ready, database, photos } = await readiness();
      reply.header('cache-control', 'no-store');
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', database, photos });
    },
  );
  const metricsAccess = bearerCheck(services.config.metricsToken);
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        description:
          'Open to anyone who reaches the port, unless PHOTOSYNC_METRICS_TOKEN is set: then only with ' +
          '`Authorization: Bearer <that token>` (401 without it).',
        tags: ['operations'],
        response: { 200: Type.String(), 401: Type.String() },
      },
    },
    async (request, reply) => {
      if (!metricsAccess(request.headers.authorization)) {
        return reply
          .status(401)
          .header('www-authenticate', 'Bearer realm="photosync metrics"')
          .header('cache-control', 'no-store')
          .type('text/plain; charset=utf-8')
          .send(
            request.headers.authorization === undefined
              ? 'The metrics need the bearer token set in PHOTOSYNC_METRICS_TOKEN: send Authorization: Bearer <token>.\n'
              : 'That is not the token set in PHOTOSYNC_METRICS_TOKEN.\n',
          );
      }
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
  webAssetRoutes(app);
  siteRoutes(app, services, answers);
  // Closing: requests take the whole path, which answers 503 to new ones.
  app.addHook('preClose', (done) => {
    answers.stop();
    done();
  });
  tokenRoutes(app, services);
  oidcRoutes(app, services);
  for (const mount of API_MOUNTS) {
    await app.register(
      async (api) => {
        routeDefaults(api as App, { envelope: mount.envelope, auth: mount.auth });
        await mount.routes(api as App, services);
      },
      { prefix: mount.prefix },
    );
  }
  await app.register(async (portal) => {
    routeDefaults(portal as App, {
      envelope: 'page',
      auth: ANYONE,
    });
    // The admin console's prompt banner on the portal's home page.
    const homeBanner = (user: DirectoryUser, page: PageContext) => promptBannerFor(services.database.db, user, page);
    // Connect mode: the tenant's people sign in with Microsoft 365 and their tiles push into SharePoint.
    const connect = services.m365 && createConnectPortal(services, services.m365, { banner: tenantPromptBanner });
    await portalRoutes(portal as App, services, { homeBanner, connect });
    await sitePageRoutes(portal as App, services, { sitesLag: sitesLagOf(services) });
    // Unknown addresses are answered here, where a page has the portal's form token.
    installNotFoundHandler(portal as App, errors);
    // Entra's sign-in page for apps is the portal's own, with its form protection.
    authorizeRoutes(portal as App, services);
  });
  await app.register((admin) => adminRoutes(admin as App, services));
  // A serving app sends the prompt e-mails' outbox, retries included, until it closes.
  if (services.promptOutbox) {
    const outbox = services.promptOutbox;
    app.addHook('onReady', () => {
      outbox.start();
      return Promise.resolve();
    });
    app.addHook('onClose', () => outbox.stop());
  }
  return app;
}

/** The APIs mounted under a prefix, each answering in its own envelope, also at addresses it does not have. */
const API_MOUNTS: ReadonlyArray<{
  prefix: string;
  envelope: Envelope;
  /** Graph takes bearer tokens only; SharePoint also a browser's session. Both let in users and apps. */
  auth: RouteAuth;
  routes: (api: App, services: Services) => Promise<void>;
}> = [
  { prefix: '/v1.0', envelope: 'graph', auth: { credentials: 'token', allow: 'principal' }, routes: graphRoutes },
  {
    prefix: '/_api',
    envelope: 'sharepoint',
    auth: { credentials: 'token-or-session', allow: 'principal' },
    routes: sharePointRestRoutes,
  },
];

/** APIs not mounted under one prefix: the console's JSON API and Entra's OAuth and OpenID endpoints. */
const OTHER_APIS =
  /^\/(?:admin\/api|oauth2|\.well-known|common\/discovery|[^/?]+\/(?:oauth2|v2\.0|\.well-known))(?=[/?]|$)/;

/** Entra's OAuth addresses of a tenant that photosync does not offer (device code, v1's /oauth2/token, …). */
const ENTRA_ADDRESS = /^\/[^/?]+\/oauth2(?=[/?]|$)/;

/** Unknown addresses: an API's own envelope; a page for a browser asking for one anywhere else. */
function envelopeOfAddress(path: string, accept: string | undefined): Envelope {
  const mount = API_MOUNTS.find((api) => isUnder(path, api.prefix));
  if (mount) return mount.envelope;
  // Graph's beta (Graph Explorer's addresses often say it) and Entra's other endpoints answer as
  // those services do, so Microsoft's libraries show the message instead of failing to read it.
  if (isUnder(path, '/beta')) return 'graph';
  if (ENTRA_ADDRESS.test(path)) return 'entra';
  const wantsPage = /\btext\/html\b/i.test(accept ?? '');
  return wantsPage && !OTHER_APIS.test(path) ? 'page' : 'json';
}

/**
 * A page's address written with a trailing slash (/signin/): the page's own address, query kept,
 * for GET and HEAD only (a form sent elsewhere is not sent on). The APIs' addresses are left as
 * they are: they answer in their own envelopes, as the services they stand in for do.
 */
function canonicalPage(request: FastifyRequest, takes: (method: 'GET', path: string) => boolean): string | undefined {
  if (request.method !== 'GET' && request.method !== 'HEAD') return undefined;
  const at = request.url.indexOf('?');
  const path = at === -1 ? request.url : request.url.slice(0, at);
  if (!path.endsWith('/')) return undefined;
  const page = path.replace(/\/+$/, '');
  // One leading slash only: "//host" would send the browser to another site.
  if (!/^\/[^/\\]/.test(page)) return undefined;
  if (API_MOUNTS.some((api) => isUnder(page, api.prefix)) || OTHER_APIS.test(page)) return undefined;
  if (!takes('GET', page)) return undefined;
  return at === -1 ? page : page + request.url.slice(at);
}

const isUnder = (path: string, prefix: string) =>
  path.length >= prefix.length &&
  path.slice(0, prefix.length).toLowerCase() === prefix &&
  (path.length === prefix.length || /^[/?]/.test(path.slice(prefix.length)));

/** localhost and the loopback addresses: every program on this machine shares them. */
const isLoopbackHost = (host: string) => /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i.test(host);

/**
 * The pages' security headers (every answer but a picture's). `loopback`: served at localhost (a
 * development certificate), where HSTS would hold for every port of localhost, other programs'
 * plain-http ones included, for a year: not sent there.
 */
function documentSecurityHeaders(https: boolean, loopback: boolean): Record<string, string> {
  return helmetHeaders({
    // HSTS and upgrade-insecure-requests only make sense when the site is served over https.
    strictTransportSecurity: https && !loopback,
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
    // The address of the page a form was sent from, to photosync only (never to another site): a
    // form sent after the session ended signs in and comes back to that page.
    referrerPolicy: { policy: 'same-origin' },
  });
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

/**
 * Whether an Authorization header carries `token` as its bearer token (compared in constant time);
 * without a token set, everyone passes.
 */
function bearerCheck(token: string | undefined): (authorization: string | undefined) => boolean {
  if (token === undefined) return () => true;
  const expected = createHash('sha256').update(token).digest();
  return (authorization) => {
    const given = /^bearer +(\S+) *$/i.exec(authorization ?? '')?.[1];
    return given !== undefined && timingSafeEqual(createHash('sha256').update(given).digest(), expected);
  };
}
