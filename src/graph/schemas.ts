import { Type } from '@sinclair/typebox';
import { MAIL_PHOTO_MAX_BYTES } from '../mail/photo-store.js';
import { GRAPH_PHOTO_SIDES } from '../mail/photo-sizes.js';
import { MAX_BATCH_REQUESTS } from './batch.js';
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
const NullableString = Type.Union([Type.String(), Type.Null()]);
/** The user resource: the default properties, or those $select names. */
const UserProperties = {
  businessPhones: Type.Optional(Type.Array(Type.String())),
  displayName: Type.Optional(Type.String()),
  givenName: Type.Optional(NullableString),
  jobTitle: Type.Optional(NullableString),
  mail: Type.Optional(NullableString),
  mobilePhone: Type.Optional(NullableString),
  officeLocation: Type.Optional(NullableString),
  preferredLanguage: Type.Optional(NullableString),
  surname: Type.Optional(NullableString),
  userPrincipalName: Type.Optional(Type.String()),
  id: Type.Optional(Type.String()),
  accountEnabled: Type.Optional(Type.Boolean()),
  provisionedPlans: Type.Optional(
    Type.Array(
      Type.Object({ capabilityStatus: Type.String(), provisioningStatus: Type.String(), service: Type.String() }),
    ),
  ),
};
const GraphUser = Type.Object({ '@odata.context': Type.String(), ...UserProperties });
const UserQuery = Type.Object({ $select: Type.Optional(Type.String({ maxLength: 1000 })) });

/** A batch may carry 20 photos' worth of base64. */
export const BATCH_MAX_BYTES = 8 * 1024 * 1024;

export const usersList = {
  tags: ['graph'],
  summary:
    'List users: $select, $filter (eq, in, startswith), $orderby (displayName or userPrincipalName), $top (1–999, default 100), $count (with ConsistencyLevel: eventual), @odata.nextLink',
  description:
    "$filter: id, userPrincipalName, mail, displayName, givenName or surname, with eq 'value', in ('value', …) (at most 15) " +
    "or startswith(property,'value'), and accountEnabled eq true or false, joined by and or by or. " +
    '$orderby: displayName or userPrincipalName, asc or desc; with $filter only as an advanced query ($count=true and ' +
    'ConsistencyLevel: eventual), as in Graph; anything else is 400 Request_UnsupportedQuery. Needs User.ReadBasic.All, User.Read.All, ProfilePhoto.Read.All or ProfilePhoto.ReadWrite.All.',
  querystring: Type.Object(
    {
      $select: Type.Optional(Type.String({ maxLength: 1000 })),
      $filter: Type.Optional(Type.String({ maxLength: 1000 })),
      $top: Type.Optional(Type.String({ maxLength: 10 })),
      $skiptoken: Type.Optional(Type.String({ maxLength: 400 })),
      $count: Type.Optional(Type.String({ maxLength: 10 })),
      $orderby: Type.Optional(Type.String({ maxLength: 100 })),
    },
    { additionalProperties: true },
  ),
  response: {
    200: Type.Object({
      '@odata.context': Type.String(),
      '@odata.nextLink': Type.Optional(Type.String()),
      '@odata.count': Type.Optional(Type.Integer()),
      value: Type.Array(Type.Object(UserProperties)),
    }),
    ...graphErrorResponses,
  },
};

export const batchSchema = {
  tags: ['graph'],
  summary: `JSON batching: up to ${MAX_BATCH_REQUESTS} requests, dependsOn, binary bodies as base64`,
  description:
    'Body: {"requests":[{"id":"1","method":"GET","url":"/me"},…]}. Each request has an id of its own, a method ' +
    '(GET, PUT, PATCH, POST or DELETE) and a url relative to /v1.0 that stays under it; a request with a body names ' +
    'its Content-Type, its headers are ones an HTTP request can carry (token names; no control or non-Latin-1 ' +
    `character in a value; at most 16 KB of them), and dependsOn names earlier requests only. At most ${MAX_BATCH_REQUESTS} requests and ` +
    `${BATCH_MAX_BYTES / 1024 / 1024} MiB (413 above); a batch breaking any other rule is refused whole with 400, ` +
    'running nothing. Requests run one after another in the order given, each with the batch’s Authorization; answers ' +
    'come in request order as {"responses":[{id,status,headers,body}]}, a body that is not JSON as base64. A request ' +
    'whose dependsOn names one that failed (400 or above) is answered 424 without running; a request naming $batch ' +
    'is answered 400; a request that fails unexpectedly is answered 500 (generalException) and logged, and the ' +
    'others still run.',
  body: { description: 'JSON: {"requests": [...]}' },
  response: {
    200: Type.Object({
      responses: Type.Array(
        Type.Object({
          id: Type.String(),
          status: Type.Integer(),
          headers: Type.Record(Type.String(), Type.String()),
          body: Type.Optional(Type.Unknown()),
        }),
      ),
    }),
    ...graphErrorResponses,
    413: Type.Ref(GraphErrorBody),
  },
};

const imageResponse = {
  200: { description: 'The JPEG photo', content: { 'image/jpeg': { schema: { type: 'string', format: 'binary' } } } },
  304: { description: 'Not modified', type: 'null' },
};

const SCOPES_TEXT =
  'Delegated: User.Read (own, read), User.ReadWrite (own, read and write), User.ReadBasic.All, User.Read.All or ' +
  'ProfilePhoto.Read.All (read anyone). Apps: those read scopes, or ProfilePhoto.ReadWrite.All. ' +
  'A user without a mailbox has the directory (Entra) photo here, as in Graph.';

const tags = ['graph'];

/** Each route's schema (without its path parameters), described for `who` the request is about. */
export function graphSchemas(who: string) {
  return {
    user: {
      tags,
      summary: `The user resource of ${who}`,
      description: `The default properties, or those $select names (null where unknown). ${SCOPES_TEXT}`,
      querystring: UserQuery,
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
        "Own photo with User.ReadWrite; anyone's with ProfilePhoto.ReadWrite.All (app, or an administrator's token). " +
        'A user without a mailbox: the directory (Entra) photo, shrunk to 96 px as the directory keeps it.',
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
