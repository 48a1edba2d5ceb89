import { Type } from '@sinclair/typebox';
import { MAIL_PHOTO_MAX_BYTES } from '../mail/photo-store.js';
import { GRAPH_PHOTO_SIDES } from '../mail/photo-sizes.js';
import { GraphErrorBody, graphErrorResponses } from './errors.js';

// The schemas of Graph's routes: path parameters, Graph's JSON shapes, and each route's OpenAPI
// description for /me and for /users/{id}.

export const UserParams = Type.Object({
  id: Type.String({ maxLength: 300, description: 'Object id or userPrincipalName' }),
});
export const SizeParams = Type.Object({
  size: Type.String({ maxLength: 20, description: 'e.g. 48x48, 240x240, 648x648' }),
});
export const UserSizeParams = Type.Composite([UserParams, SizeParams]);

export const PhotoMetadata = Type.Object({
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

const tags = ['graph'];

/** Each route's schema (without its path parameters), described for `who` the request is about. */
export function graphSchemas(who: string) {
  return {
    user: {
      tags,
      summary: `The user resource of ${who}`,
      description: SCOPES_TEXT,
      response: { 200: GraphUser, ...graphErrorResponses },
    },
    photo: {
      tags,
      summary: `Metadata of ${who}'s photo (the largest size)`,
      description: SCOPES_TEXT,
      response: { 200: PhotoMetadata, ...graphErrorResponses },
    },
    photoValue: {
      tags,
      summary: `${who}'s photo, as JPEG bytes`,
      description: `Strong ETag; If-None-Match gives 304. No photo: 404 ImageNotFound. ${SCOPES_TEXT}`,
      response: { ...imageResponse, ...graphErrorResponses },
    },
    setPhoto: (method: 'PUT' | 'PATCH') => ({
      tags,
      summary: `Set ${who}'s photo (${method})`,
      description:
        `The body is the image: JPEG, PNG, GIF or WebP, at most ${MAIL_PHOTO_MAX_BYTES / 1024 / 1024} MB (413 above). ` +
        'Not an image, corrupt, too many pixels, a side over 16,384 px, sides more than 8:1 or too slow to decode: 400. ' +
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
    }),
    removePhoto: {
      tags,
      summary: `Remove ${who}'s photo`,
      description: "The sites show the placeholder after the user's next action. No photo: 404 ImageNotFound.",
      response: { 204: { description: 'The photo was removed', type: 'null' }, ...graphErrorResponses },
    },
    photos: {
      tags,
      summary: `The sizes of ${who}'s photo`,
      description: `Sizes above the stored photo are not listed (of ${GRAPH_PHOTO_SIDES.join(', ')}).`,
      response: { 200: PhotoSizes, ...graphErrorResponses },
    },
    photoSize: {
      tags,
      summary: `Metadata of one size of ${who}'s photo`,
      response: { 200: PhotoMetadata, ...graphErrorResponses },
    },
    photoSizeValue: {
      tags,
      summary: `One size of ${who}'s photo, as JPEG bytes`,
      response: { ...imageResponse, ...graphErrorResponses },
    },
  };
}
