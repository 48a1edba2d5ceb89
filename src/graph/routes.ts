import type { App } from '../http/types.js';
import { MAIL_PHOTO_MAX_BYTES } from '../mail/photo-store.js';
import type { Services } from '../services.js';
import { requestIdOf } from './errors.js';
import { graphHandlers } from './handlers.js';
import {
  BATCH_MAX_BYTES,
  SizeParams,
  UserParams,
  UserSizeParams,
  batchSchema,
  graphSchemas,
  usersList,
} from './schemas.js';
import { parseBatch, runBatch } from './batch.js';
import { createGraphThrottle } from './throttle.js';

/** The headers browser code may read from Graph's answers, as Graph exposes them. */
const CORS_EXPOSED_HEADERS =
  'ETag, Location, Preference-Applied, Content-Range, request-id, client-request-id, ReadWriteConsistencyToken, SdkVersion, WWW-Authenticate, Retry-After';

// Microsoft Graph v1.0: the user resource and the mail photo (profilePhoto), for /me and
// /users/{id | userPrincipalName}, with Graph's paths, status codes, headers and JSON shapes.
// Each route is registered twice, for the caller (/me) and for the user the path names.

/** /me is about the caller: no user id in the path. */
const ME = undefined;

export async function graphRoutes(app: App, services: Services): Promise<void> {
  // Every Graph answer carries a request-id (an error's body repeats it).
  app.addHook('onRequest', async (request, reply) => {
    requestIdOf(request, reply);
  });
  const limit = services.config.graphAppLimit;
  if (limit) {
    const throttle = createGraphThrottle(limit, () => services.metrics.graphThrottled.inc());
    // After authentication; a batch's requests are counted one by one, the batch itself not.
    app.addHook('preHandler', async (request) => {
      const principal = request.principal;
      if (principal?.kind === 'app' && !/\/\$batch(?:\?|$)/.test(request.url)) throttle.admit(principal.app.clientId);
    });
  }
  // CORS as Graph does it: bearer tokens only (never cookies), so any origin may call, and
  // browser code may read the headers Graph exposes. Errors (a 401 too) carry them as well.
  app.addHook('onSend', async (request, reply) => {
    const origin = request.headers.origin;
    if (origin === undefined) return;
    void reply.header('access-control-allow-origin', '*');
    void reply.header('access-control-expose-headers', CORS_EXPOSED_HEADERS);
  });
  app.options(
    '/*',
    {
      config: { auth: false },
      schema: {
        summary: 'CORS preflight: any origin, the methods and headers Graph takes',
        tags: ['graph'],
        response: { 204: { description: 'Allowed', type: 'null' } },
      },
    },
    async (request, reply) => {
      const asked = request.headers['access-control-request-headers'];
      return reply
        .status(204)
        .header('access-control-allow-origin', '*')
        .header('access-control-allow-methods', 'GET, POST, PUT, PATCH, DELETE, OPTIONS')
        .header(
          'access-control-allow-headers',
          typeof asked === 'string' && asked !== '' ? asked : 'Authorization, Content-Type, client-request-id',
        )
        .header('access-control-max-age', '3600')
        .send(null);
    },
  );
  // Photo uploads are raw image bytes whatever the declared type; JSON has no place in this API.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  const graph = graphHandlers(services);
  const me = graphSchemas('the signed-in user');
  const users = graphSchemas('a user (by id or userPrincipalName)');

  app.get('/users', { schema: usersList }, (request) => graph.users(request));
  app.get(
    '/users/$count',
    {
      schema: {
        summary: 'How many users the directory has, as text (send ConsistencyLevel: eventual)',
        tags: ['graph'],
        response: { 200: { description: 'The number, as text/plain', type: 'string' } },
      },
    },
    (request, reply) => graph.usersCount(request, reply),
  );
  app.post('/$batch', { bodyLimit: BATCH_MAX_BYTES, schema: batchSchema }, async (request) => ({
    responses: await runBatch(app, request, parseBatch(request.body)),
  }));

  app.get('/me', { schema: me.user }, (request) => graph.user(request, ME));
  app.get('/users/:id', { schema: { ...users.user, params: UserParams } }, (request) =>
    graph.user(request, request.params.id),
  );

  app.get('/me/photo', { schema: me.photo }, (request) => graph.photo(request, ME));
  app.get('/users/:id/photo', { schema: { ...users.photo, params: UserParams } }, (request) =>
    graph.photo(request, request.params.id),
  );

  app.get('/me/photo/$value', { schema: me.photoValue }, (request, reply) => graph.photoValue(request, reply, ME));
  app.get('/users/:id/photo/$value', { schema: { ...users.photoValue, params: UserParams } }, (request, reply) =>
    graph.photoValue(request, reply, request.params.id),
  );

  // Graph's docs also write a size under /photo: /me/photo/48x48/$value.
  app.get('/me/photo/:size/$value', { schema: { ...me.photoSizeValue, params: SizeParams } }, (request, reply) =>
    graph.photoSizeValue(request, reply, ME, request.params.size),
  );
  app.get(
    '/users/:id/photo/:size/$value',
    { schema: { ...users.photoSizeValue, params: UserSizeParams } },
    (request, reply) => graph.photoSizeValue(request, reply, request.params.id, request.params.size),
  );

  // Whose photo, whether the caller may change it and the declared type are all settled before
  // the body is read (preParsing): a refused upload is answered without receiving it.
  for (const method of ['PUT', 'PATCH'] as const) {
    app.route({
      method,
      url: '/me/photo/$value',
      bodyLimit: MAIL_PHOTO_MAX_BYTES,
      schema: me.setPhoto(method),
      preParsing: async (request) => graph.beforeSetPhoto(request, ME),
      handler: (request, reply) => graph.setPhoto(request, reply),
    });
    app.route({
      method,
      url: '/users/:id/photo/$value',
      bodyLimit: MAIL_PHOTO_MAX_BYTES,
      schema: { ...users.setPhoto(method), params: UserParams },
      preParsing: async (request) => graph.beforeSetPhoto(request, (request.params as { id: string }).id),
      handler: (request, reply) => graph.setPhoto(request, reply),
    });
  }

  // Graph's reference writes the removal at /photo/$value (PowerShell's Remove-MgUserPhotoContent
  // sends it there); /photo is taken too.
  for (const value of ['', '/$value']) {
    app.delete(`/me/photo${value}`, { schema: me.removePhoto }, (request, reply) =>
      graph.removePhoto(request, reply, ME),
    );
    app.delete(`/users/:id/photo${value}`, { schema: { ...users.removePhoto, params: UserParams } }, (request, reply) =>
      graph.removePhoto(request, reply, (request.params as { id: string }).id),
    );
  }

  app.get('/me/photos', { schema: me.photos }, (request) => graph.photos(request, ME));
  app.get('/users/:id/photos', { schema: { ...users.photos, params: UserParams } }, (request) =>
    graph.photos(request, request.params.id),
  );

  app.get('/me/photos/:size', { schema: { ...me.photoSize, params: SizeParams } }, (request) =>
    graph.photoSize(request, ME, request.params.size),
  );
  app.get('/users/:id/photos/:size', { schema: { ...users.photoSize, params: UserSizeParams } }, (request) =>
    graph.photoSize(request, request.params.id, request.params.size),
  );

  app.get('/me/photos/:size/$value', { schema: { ...me.photoSizeValue, params: SizeParams } }, (request, reply) =>
    graph.photoSizeValue(request, reply, ME, request.params.size),
  );
  app.get(
    '/users/:id/photos/:size/$value',
    { schema: { ...users.photoSizeValue, params: UserSizeParams } },
    (request, reply) => graph.photoSizeValue(request, reply, request.params.id, request.params.size),
  );
}
