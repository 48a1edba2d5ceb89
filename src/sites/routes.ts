import { Type, type Static } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../http/app.js';
import { findUserById, findUserByUpn, type DirectoryUser } from '../directory/users.js';
import { upnFromAccountName } from '../directory/upn.js';
import { invalidInput, notFound } from '../errors.js';
import { requireUser } from '../http/auth.js';
import { errorResponses } from '../http/schemas.js';
import type { Services } from '../services.js';
import { createByteCache } from '../storage/byte-cache.js';
import { LIBRARY_PATH, parseRenditionFileName, type RenditionSize } from './library.js';
import { placeholderJpeg } from './placeholder.js';
import { getRendition, getSiteProfile, userIdForFileStem } from './profiles.js';

const PhotoQuery = Type.Object({
  size: Type.Optional(Type.String({ pattern: '^[SMLsml]$', description: 'S (48 px), M (72 px) or L (300 px)' })),
  accountname: Type.Optional(
    Type.String({ maxLength: 300, description: 'UPN, e-mail or claim (i:0#.f|membership|jane@contoso.com)' }),
  ),
  username: Type.Optional(Type.String({ maxLength: 300 })),
  url: Type.Optional(Type.String({ maxLength: 2000, description: 'A PictureURL' })),
  t: Type.Optional(Type.String({ maxLength: 40 })),
});
type PhotoQuery = Static<typeof PhotoQuery>;

const FileParams = Type.Object({ file: Type.String({ maxLength: 300 }) });
const FileQuery = Type.Object({ t: Type.Optional(Type.String({ maxLength: 40 })) });

const imageResponse = {
  200: { description: 'The JPEG picture', content: { 'image/jpeg': { schema: { type: 'string', format: 'binary' } } } },
  304: { description: 'Not modified', type: 'null' },
};

const NO_CACHE = 'private, no-cache';
const IMMUTABLE = 'private, max-age=31536000, immutable';

export function siteRoutes(app: App, services: Services): void {
  const { db } = services.database;
  const bytesCache = createByteCache(32 * 1024 * 1024);

  async function sendPicture(
    request: FastifyRequest,
    reply: FastifyReply,
    user: DirectoryUser | undefined,
    size: RenditionSize,
    versioned: string | undefined,
  ) {
    const rendition = user && (await getRendition(db, user.id, size));
    let etag: string;
    let load: () => Promise<Buffer>;
    let cacheControl = NO_CACHE;
    if (rendition && user) {
      etag = rendition.etag;
      load = async () => {
        const cached = bytesCache.get(rendition.blobKey);
        if (cached) return cached;
        const bytes = await services.blobs.get(rendition.blobKey);
        if (!bytes) throw new Error(`Rendition file ${rendition.blobKey} is missing.`);
        bytesCache.set(rendition.blobKey, bytes);
        return bytes;
      };
      if (versioned !== undefined) {
        const profile = await getSiteProfile(db, user.id);
        if (profile?.pictureTimestamp !== null && String(profile?.pictureTimestamp) === versioned)
          cacheControl = IMMUTABLE;
      }
    } else {
      const placeholder = await placeholderJpeg(services.syncSettings().renditionSizes[size]);
      etag = placeholder.etag;
      load = () => Promise.resolve(placeholder.jpeg);
    }
    const quoted = `"${etag}"`;
    reply.header('etag', quoted).header('cache-control', cacheControl).header('vary', 'Authorization, Cookie');
    if (ifNoneMatch(request.headers['if-none-match'], quoted)) return reply.status(304).send();
    return reply.type('image/jpeg').send(await load());
  }

  app.get(
    '/_layouts/15/userphoto.aspx',
    {
      schema: {
        summary: "A user's site picture (S, M or L), or the placeholder",
        description:
          'Requesting your own L picture is a user action: it first checks the mail photo and syncs it if it changed.',
        tags: ['sites'],
        querystring: PhotoQuery,
        response: { ...imageResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const viewer = await requireUser(request, db);
      const size = (request.query.size?.toUpperCase() ?? 'M') as RenditionSize;
      const subject = await resolveSubject(request.query);
      if (subject && subject.id === viewer.id && size === 'L') {
        const result = await services.sync.sync(subject, 'photo_request');
        reply.header('x-photosync-sync', result.outcome);
      }
      return sendPicture(request, reply, subject, size, request.query.t);
    },
  );

  app.get(
    `${LIBRARY_PATH}/:file`,
    {
      schema: {
        summary: 'A file of the "User Photos" library, e.g. jane_contoso_com_MThumb.jpg',
        tags: ['sites'],
        params: FileParams,
        querystring: FileQuery,
        response: { ...imageResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      await requireUser(request, db);
      const parsed = parseRenditionFileName(request.params.file);
      const userId = parsed && (await userIdForFileStem(db, parsed.stem));
      const user = userId ? await findUserById(db, userId) : undefined;
      const rendition = parsed && user && (await getRendition(db, user.id, parsed.size));
      if (!parsed || !user || !rendition) throw notFound(`There is no file ${request.params.file} in ${LIBRARY_PATH}.`);
      return sendPicture(request, reply, user, parsed.size, request.query.t);
    },
  );

  async function resolveSubject(query: PhotoQuery): Promise<DirectoryUser | undefined> {
    const account = query.accountname ?? query.username;
    if (account !== undefined) {
      const upn = upnFromAccountName(account);
      if (!upn) throw invalidInput(`"${account}" is not an account name (like jane@contoso.com).`);
      return findUserByUpn(db, upn);
    }
    if (query.url !== undefined) {
      const name = safeDecode(query.url.split('?')[0]?.split('/').pop() ?? '');
      const parsed = parseRenditionFileName(name);
      const userId = parsed && (await userIdForFileStem(db, parsed.stem));
      return userId ? findUserById(db, userId) : undefined;
    }
    throw invalidInput('Say whose picture you want with accountname=, username= or url=.');
  }
}

function ifNoneMatch(header: string | undefined, quotedEtag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const value = tag.trim();
    return value === '*' || value === quotedEtag || value === `W/${quotedEtag}`;
  });
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalidInput(`"${text}" is not a valid URL.`);
  }
}
