import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DirectoryUser } from '../directory/users.js';
import { isAppError } from '../errors.js';
import type { App } from '../http/app.js';
import { availableSides, GRAPH_PHOTO_SIDES } from '../mail/photo-sizes.js';
import {
  getMailPhoto,
  MAIL_PHOTO_MAX_BYTES,
  readMailMaster,
  removeMailPhoto,
  setMailPhoto,
  type MailPhoto,
} from '../mail/photo-store.js';
import type { Services } from '../services.js';
import { graphPrincipal, graphSubject } from './access.js';
import { GraphErrorBody, graphErrorResponses, graphErrors, installGraphErrors } from './errors.js';

// Microsoft Graph v1.0: the user resource and the mail photo (profilePhoto), for /me and
// /users/{id | userPrincipalName}, with Graph's paths, status codes, headers and JSON shapes.

const UPLOAD_TYPES = ['image/jpeg', 'image/jpg', 'image/png', 'image/gif', 'image/webp', 'application/octet-stream'];

const UserParams = Type.Object({ id: Type.String({ maxLength: 300, description: 'Object id or userPrincipalName' }) });
const SizeParams = Type.Object({ size: Type.String({ maxLength: 20, description: 'e.g. 48x48, 240x240, 648x648' }) });

const PhotoMetadata = Type.Object({
  '@odata.context': Type.String(),
  '@odata.mediaContentType': Type.Literal('image/jpeg'),
  '@odata.mediaEtag': Type.String(),
  id: Type.String(),
  width: Type.Integer(),
  height: Type.Integer(),
});
const PhotoSizes = Type.Object({
  '@odata.context': Type.String(),
  value: Type.Array(Type.Omit(PhotoMetadata, ['@odata.context'])),
});
const GraphUser = Type.Object({
  '@odata.context': Type.String(),
  id: Type.String(),
  displayName: Type.String(),
  userPrincipalName: Type.String(),
  mail: Type.Union([Type.String(), Type.Null()]),
});

const imageResponse = {
  200: { description: 'The JPEG photo', content: { 'image/jpeg': { schema: { type: 'string', format: 'binary' } } } },
  304: { description: 'Not modified', type: 'null' },
};

const SCOPES_TEXT =
  'Delegated: User.Read (own photo, read and write), ProfilePhoto.Read.All (read anyone). ' +
  'Apps: ProfilePhoto.Read.All or ProfilePhoto.ReadWrite.All.';

export async function graphRoutes(app: App, services: Services): Promise<void> {
  const { db } = services.database;
  const mailDeps = { db, dialect: services.database.dialect, blobs: services.blobs };
  installGraphErrors(app);
  // Photo uploads are raw image bytes whatever the declared type; JSON has no place in this API.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  const context = (path: string) => `${services.config.publicUrl}/v1.0/$metadata#${path}`;
  const subjectId = (request: FastifyRequest) => (request.params as { id?: string }).id;

  async function mailPhotoOf(user: DirectoryUser): Promise<MailPhoto> {
    if (!user.hasMailbox) throw graphErrors.noMailbox();
    const photo = await getMailPhoto(db, user.id);
    if (!photo) throw graphErrors.imageNotFound();
    return photo;
  }

  /** Each size has its own strong ETag; the master's is the photo's own. */
  const sizeEtag = (photo: MailPhoto, side: number) => (side === photo.side ? photo.etag : `${photo.etag}-${side}`);
  const metadata = (photo: MailPhoto, side: number) => ({
    '@odata.mediaContentType': 'image/jpeg' as const,
    '@odata.mediaEtag': `"${sizeEtag(photo, side)}"`,
    id: `${side}x${side}`,
    width: side,
    height: side,
  });

  function parseSize(photo: MailPhoto, size: string): number {
    const match = /^(\d{1,4})x(\d{1,4})$/i.exec(size);
    const side = match && match[1] === match[2] ? Number(match[1]) : NaN;
    if (!availableSides(photo).includes(side)) {
      throw graphErrors.imageNotFound(
        `There is no ${size} photo. Available sizes: ${availableSides(photo)
          .map((s) => `${s}x${s}`)
          .join(', ')}.`,
      );
    }
    return side;
  }

  async function sendPhoto(request: FastifyRequest, reply: FastifyReply, photo: MailPhoto, side: number) {
    const etag = `"${sizeEtag(photo, side)}"`;
    void reply.header('etag', etag).header('cache-control', 'private, no-cache').header('vary', 'Authorization');
    const ifNoneMatch = request.headers['if-none-match'];
    if (ifNoneMatch?.split(',').some((t) => [etag, `W/${etag}`, '*'].includes(t.trim()))) {
      return reply.status(304).send();
    }
    // The default photo is the stored master, whatever its side; the listed sizes are Graph's.
    const bytes =
      side === photo.side ? await readMailMaster(services.blobs, photo) : await services.mailSizes.read(photo, side);
    if (!bytes) throw graphErrors.imageNotFound();
    return reply.type('image/jpeg').send(bytes);
  }

  const bases = [
    { path: '/me', params: undefined, who: 'the signed-in user' },
    { path: '/users/:id', params: UserParams, who: 'a user (by id or userPrincipalName)' },
  ] as const;

  for (const base of bases) {
    const tags = ['graph'];
    const common = { tags, ...(base.params ? { params: base.params } : {}) };

    app.get(
      base.path,
      {
        schema: {
          ...common,
          summary: `The user resource of ${base.who}`,
          description: SCOPES_TEXT,
          response: { 200: GraphUser, ...graphErrorResponses },
        },
      },
      async (request) => {
        const user = await graphSubject(
          services,
          await graphPrincipal(request, services),
          subjectId(request),
          'profile',
        );
        return {
          '@odata.context': context('users/$entity'),
          id: user.id,
          displayName: user.displayName,
          userPrincipalName: user.upn,
          mail: user.hasMailbox ? user.upn : null,
        };
      },
    );

    app.get(
      `${base.path}/photo`,
      {
        schema: {
          ...common,
          summary: `Metadata of ${base.who}'s photo (the largest size)`,
          description: SCOPES_TEXT,
          response: { 200: PhotoMetadata, ...graphErrorResponses },
        },
      },
      async (request) => {
        const user = await graphSubject(services, await graphPrincipal(request, services), subjectId(request), 'read');
        const photo = await mailPhotoOf(user);
        return { '@odata.context': context(`users('${user.id}')/photo/$entity`), ...metadata(photo, photo.side) };
      },
    );

    app.get(
      `${base.path}/photo/$value`,
      {
        schema: {
          ...common,
          summary: `${base.who}'s photo, as JPEG bytes`,
          description: `Strong ETag; If-None-Match gives 304. No photo: 404 ImageNotFound. ${SCOPES_TEXT}`,
          response: { ...imageResponse, ...graphErrorResponses },
        },
      },
      async (request, reply) => {
        const user = await graphSubject(services, await graphPrincipal(request, services), subjectId(request), 'read');
        const photo = await mailPhotoOf(user);
        return sendPhoto(request, reply, photo, photo.side);
      },
    );

    for (const method of ['PUT', 'PATCH'] as const) {
      app.route({
        method,
        url: `${base.path}/photo/$value`,
        bodyLimit: MAIL_PHOTO_MAX_BYTES,
        schema: {
          ...common,
          summary: `Set ${base.who}'s photo (${method})`,
          description:
            'The body is the image: JPEG, PNG, GIF or WebP, at most 4 MB (413 above). Not an image, corrupt, ' +
            'too many pixels, a side over 16,384 px, sides more than 8:1 or too slow to decode: 400. ' +
            'Too many images waiting already: 503 with Retry-After. ' +
            "Own photo with User.Read; anyone's with ProfilePhoto.ReadWrite.All (app, or an administrator's token).",
          consumes: ['image/jpeg', 'image/png', 'image/gif', 'image/webp'],
          // The bytes are checked by the image pipeline; a schema with no type accepts the raw buffer.
          body: { description: 'The image bytes: JPEG, PNG, GIF or WebP, at most 4 MB' },
          response: {
            200: { description: 'The photo was set', type: 'null' },
            ...graphErrorResponses,
            413: Type.Ref(GraphErrorBody),
            503: Type.Ref(GraphErrorBody),
          },
        },
        handler: async (request, reply) => {
          const principal = await graphPrincipal(request, services);
          const user = await graphSubject(services, principal, subjectId(request), 'write');
          const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
          if (!UPLOAD_TYPES.includes(type)) {
            throw graphErrors.invalidImage(
              `Send the photo with Content-Type image/jpeg, image/png, image/gif or image/webp (got "${type || 'none'}").`,
            );
          }
          const body = request.body;
          if (!Buffer.isBuffer(body) || body.length === 0)
            throw graphErrors.invalidImage('The request has no photo in its body.');
          if (!user.hasMailbox) throw graphErrors.noMailbox();
          try {
            await setMailPhoto(mailDeps, user, body);
          } catch (error) {
            if (!isAppError(error) || error.status >= 500) throw error;
            throw error.status === 413 ? graphErrors.tooLarge() : graphErrors.invalidImage(error.message);
          }
          return reply.status(200).send(undefined as never);
        },
      });
    }

    app.delete(
      `${base.path}/photo`,
      {
        schema: {
          ...common,
          summary: `Remove ${base.who}'s photo`,
          description: "The sites show the placeholder after the user's next action. No photo: 404 ImageNotFound.",
          response: { 204: { description: 'The photo was removed', type: 'null' }, ...graphErrorResponses },
        },
      },
      async (request, reply) => {
        const user = await graphSubject(services, await graphPrincipal(request, services), subjectId(request), 'write');
        if (!user.hasMailbox) throw graphErrors.noMailbox();
        if (!(await removeMailPhoto(mailDeps, user))) throw graphErrors.imageNotFound();
        return reply.status(204).send(null);
      },
    );

    app.get(
      `${base.path}/photos`,
      {
        schema: {
          ...common,
          summary: `The sizes of ${base.who}'s photo`,
          description: `Sizes above the stored photo are not listed (of ${GRAPH_PHOTO_SIDES.join(', ')}).`,
          response: { 200: PhotoSizes, ...graphErrorResponses },
        },
      },
      async (request) => {
        const user = await graphSubject(services, await graphPrincipal(request, services), subjectId(request), 'read');
        if (!user.hasMailbox) throw graphErrors.noMailbox();
        const photo = await getMailPhoto(db, user.id);
        return {
          '@odata.context': context(`users('${user.id}')/photos`),
          value: photo ? availableSides(photo).map((side) => metadata(photo, side)) : [],
        };
      },
    );

    app.get(
      `${base.path}/photos/:size`,
      {
        schema: {
          ...common,
          params: Type.Composite([...(base.params ? [base.params] : []), SizeParams]),
          summary: `Metadata of one size of ${base.who}'s photo`,
          response: { 200: PhotoMetadata, ...graphErrorResponses },
        },
      },
      async (request) => {
        const user = await graphSubject(services, await graphPrincipal(request, services), subjectId(request), 'read');
        const photo = await mailPhotoOf(user);
        const side = parseSize(photo, (request.params as { size: string }).size);
        return { '@odata.context': context(`users('${user.id}')/photos/$entity`), ...metadata(photo, side) };
      },
    );

    app.get(
      `${base.path}/photos/:size/$value`,
      {
        schema: {
          ...common,
          params: Type.Composite([...(base.params ? [base.params] : []), SizeParams]),
          summary: `One size of ${base.who}'s photo, as JPEG bytes`,
          response: { ...imageResponse, ...graphErrorResponses },
        },
      },
      async (request, reply) => {
        const user = await graphSubject(services, await graphPrincipal(request, services), subjectId(request), 'read');
        const photo = await mailPhotoOf(user);
        return sendPhoto(request, reply, photo, parseSize(photo, (request.params as { size: string }).size));
      },
    );
  }
}
