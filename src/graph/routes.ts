import type { App } from '../http/types.js';
import { MAIL_PHOTO_MAX_BYTES } from '../mail/photo-store.js';
import type { Services } from '../services.js';
import { requestIdOf } from './errors.js';
import { graphHandlers } from './handlers.js';
import { SizeParams, UserParams, UserSizeParams, graphSchemas } from './schemas.js';

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
  // Photo uploads are raw image bytes whatever the declared type; JSON has no place in this API.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  const graph = graphHandlers(services);
  const me = graphSchemas('the signed-in user');
  const users = graphSchemas('a user (by id or userPrincipalName)');

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

  app.delete('/me/photo', { schema: me.removePhoto }, (request, reply) => graph.removePhoto(request, reply, ME));
  app.delete('/users/:id/photo', { schema: { ...users.removePhoto, params: UserParams } }, (request, reply) =>
    graph.removePhoto(request, reply, request.params.id),
  );

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
