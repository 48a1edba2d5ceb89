import { Type, type Static } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../http/types.js';
import { USER_COLUMNS, findUserById, picturesShown, toUser, type DirectoryUser } from '../directory/users.js';
import { upnFromAccountName } from '../directory/upn.js';
import { invalidInput, notFound } from '../errors.js';
import { checkPictureAccess, userPrincipalOf, type RouteAuth } from '../http/auth.js';
import { CACHE_CONTROL, clientHasCurrent } from '../http/conditional.js';
import { errorResponses } from '../http/schemas.js';
import type { Services } from '../services.js';
import { describeStorageFault, storageFaultCode, storageFaultOf } from '../storage/faults.js';
import { preparedQuery } from '../storage/prepared.js';
import { FROM_DIRECTORY, FROM_PICTURES, type ReadCache } from '../storage/read-cache.js';
import { LIBRARY_PATH, parseRenditionFileName, type RenditionSize } from './library.js';
import type { PictureAnswers } from './picture-answers.js';
import { PLACEHOLDER_PATH, placeholderJpeg, placeholderPng } from './placeholder.js';
import { getRendition, getShownRendition, userIdForFileStem, type Rendition } from './profiles.js';

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

/** The user behind an account name and their rendition of one size, in one query. */
const userAndRendition = preparedQuery(2, (db, upn: string, size: RenditionSize) =>
  db
    .selectFrom('directory_users as u')
    .leftJoin('site_renditions as r', (join) => join.onRef('r.user_id', '=', 'u.id').on('r.size', '=', size))
    .leftJoin('site_profiles as p', 'p.user_id', 'u.id')
    .select([
      ...USER_COLUMNS.map((c) => `u.${c}` as const),
      'r.etag',
      'r.blob_key',
      'r.side',
      'r.byte_size',
      'p.picture_timestamp',
      'p.synced_etag',
      'p.placeholder_state',
    ])
    .where('u.upn', '=', upn),
);

/** Whose picture is asked for; with an account name, their rendition and the mail photo it is synced to, read with them. */
interface Subject {
  subject: DirectoryUser | undefined;
  rendition?: Rendition;
  /** The profile's synced mail photo ETag when the rendition was read (undefined: not read with it). */
  syncedEtag?: string | null;
}

/** Pictures are for signed-in users (a session or a bearer token); apps have no one to show them to. */
const PICTURE_VIEWERS: RouteAuth = { credentials: 'token-or-session', allow: 'user' };

/** A picture's answer depends on who asks: their credential decides what they may see. */
const VARY = 'Authorization, Cookie';

export function siteRoutes(app: App, services: Services, answers: PictureAnswers): void {
  const { db } = services.database;
  const bytesCache = answers.bytes;

  /**
   * The owner's view of their own L picture syncs first; while the disk is full or read-only the
   * sync cannot even record itself, and the picture the sites have is served all the same. A check
   * that finds the sites in step is answered before its record is written (the record is history,
   * not the picture): one round trip less on the path every view of one's own picture takes.
   */
  async function syncOrKeepServing(subject: DirectoryUser, request: FastifyRequest) {
    const notRecorded = (error: unknown) =>
      request.log.error(
        { err: error, code: storageFaultCode(error) },
        `sync not recorded: ${describeStorageFault(error, false) ?? 'the storage refuses it'}`,
      );
    try {
      const result = await services.sync.sync(subject, 'photo_request', { answerBeforeRecord: true });
      result.recorded.catch((error: unknown) => {
        if (storageFaultOf(error)) notRecorded(error);
        else request.log.error({ err: error }, 'check not recorded');
      });
      return result;
    } catch (error) {
      if (!storageFaultOf(error)) throw error;
      notRecorded(error);
      return { outcome: 'failed' as const };
    }
  }

  async function sendPicture(
    request: FastifyRequest,
    reply: FastifyReply,
    user: DirectoryUser | undefined,
    size: RenditionSize,
    versioned: string | undefined,
    known: Rendition | undefined,
    /** Whether the answer may be given again from memory (not the owner's own L picture, which syncs first). */
    keepable: boolean,
    /**
     * The profile's picture (userphoto.aspx: the placeholder while it is hidden), or the library's
     * file by its name, which stays there while hidden, as in SharePoint.
     */
    serving: 'profile' | 'file' = 'profile',
  ) {
    const lookup = serving === 'file' ? getRendition : getShownRendition;
    // A sync may replace the rendition between reading its row and reading its file (the old file
    // goes right after the switch); then the row is read again and points at the new file.
    for (let attempt = 0; attempt < 3; attempt++) {
      const rendition = attempt === 0 && known ? known : user && (await lookup(db, user.id, size));
      if (!rendition) break;
      // Row and timestamp come from one query, so an old picture is never served as immutable
      // under the URL of a new one.
      const current = versioned !== undefined && String(rendition.pictureTimestamp) === versioned;
      const cacheControl = current ? CACHE_CONTROL.immutable : CACHE_CONTROL.revalidate;
      if (clientHasCurrent(request, reply, { tag: rendition.etag, cacheControl, vary: VARY })) {
        if (keepable) answers.keep(request, reply, 304, undefined);
        return reply.status(304).send();
      }
      const bytes = bytesCache.get(rendition.blobKey) ?? (await services.blobs.get(rendition.blobKey));
      if (!bytes) continue;
      bytesCache.set(rendition.blobKey, bytes);
      reply.type('image/jpeg');
      if (keepable) answers.keep(request, reply, 200, { blobKey: rendition.blobKey, length: bytes.length });
      return reply.send(bytes);
    }
    // The placeholder's size is a setting: read as a sync reads it (another instance's change counts
    // from its notice, or from a look when the copy is over two seconds old and nothing announces changes).
    await services.settings.whenCurrent();
    const side = services.syncSettings().renditionSizes[size];
    const placeholder = await placeholderJpeg(side);
    // A kept answer holds while the settings need no look and name the same size.
    const sameSide = () =>
      services.settings.whenCurrent() === undefined && services.syncSettings().renditionSizes[size] === side;
    const representation = { tag: placeholder.etag, cacheControl: CACHE_CONTROL.revalidate, vary: VARY };
    if (clientHasCurrent(request, reply, representation)) {
      if (keepable) answers.keep(request, reply, 304, undefined, sameSide);
      return reply.status(304).send();
    }
    reply.type('image/jpeg');
    if (keepable) answers.keep(request, reply, 200, { body: placeholder.jpeg }, sameSide);
    return reply.send(placeholder.jpeg);
  }

  // Anyone may have it, as SharePoint's own: a silhouette names nobody.
  app.get(
    PLACEHOLDER_PATH,
    { schema: { summary: 'The placeholder picture at SharePoint’s own address (96 px PNG)', tags: ['sites'] } },
    async (request, reply) => {
      const { png, etag } = await placeholderPng();
      if (clientHasCurrent(request, reply, { tag: etag, cacheControl: CACHE_CONTROL.shared })) {
        return reply.status(304).send();
      }
      return reply.type('image/png').send(png);
    },
  );

  app.get(
    '/_layouts/15/userphoto.aspx',
    {
      config: { picture: true, auth: PICTURE_VIEWERS },
      // SharePoint reads AccountName=, Size= and the rest without regard to case.
      // Rebuilt only when a name is not in lower case already (the common case costs a scan).
      preValidation: (request, _reply, done) => {
        const query = request.query as Record<string, unknown>;
        for (const key in query) {
          if (key !== key.toLowerCase()) {
            request.query = Object.fromEntries(
              Object.entries(query).map(([name, value]) => [name.toLowerCase(), value]),
            ) as PhotoQuery;
            break;
          }
        }
        done();
      },
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
      const viewer = userPrincipalOf(request);
      const size = (request.query.size?.toUpperCase() ?? 'M') as RenditionSize;
      // The owner's own L picture syncs first, and the sync starts while the subject is read: the
      // subject is the viewer, whose credential was just checked. On PostgreSQL its first
      // statement reads the inputs and takes the lock when the sites look out of step.
      let ownSync: ReturnType<typeof syncOrKeepServing> | undefined;
      if (size === 'L' && namesViewer(request.query, viewer.user) && picturesShown(viewer.user)) {
        checkPictureAccess(viewer, viewer.user);
        ownSync = syncOrKeepServing(viewer.user, request);
        // Awaited below, or its failure logged once the request is done without it.
        ownSync.catch(() => {});
      }
      let ownSyncAwaited = false;
      try {
        const { subject, rendition, syncedEtag } = await resolveSubject(request.query, size, request.reads);
        // Refused alike whether or not the person exists: a token without the scope learns nothing.
        checkPictureAccess(viewer, subject ?? { id: '' });
        if (subject && !picturesShown(subject)) {
          return sendPicture(request, reply, undefined, size, request.query.t, undefined, true);
        }
        if (subject && subject.id === viewer.user.id && size === 'L') {
          ownSyncAwaited = true;
          const result = await (ownSync ?? syncOrKeepServing(subject, request));
          reply.header('x-photosync-sync', result.outcome);
          // The rendition read with the subject is still the sites' picture when no sync has switched
          // it since: neither this one (it synced or removed nothing) nor another that ran while this
          // one waited for the user's lock (the same mail photo is synced). A null ETag names no
          // picture (an upload and the placeholder both have none), so it proves nothing.
          const unswitched =
            'etagAfter' in result &&
            result.outcome !== 'synced' &&
            result.outcome !== 'removed' &&
            result.etagAfter !== null &&
            syncedEtag !== undefined &&
            result.etagAfter === syncedEtag;
          // After a sync, the picture it switched to (its bytes kept in memory by the publish).
          const known = unswitched ? rendition : 'renditions' in result ? result.renditions?.L : undefined;
          // Never immutable, even under its versioned URL: a browser must ask again at every view,
          // as each is the owner's action (a page built before the sync names the old version).
          return sendPicture(request, reply, subject, size, undefined, known, false);
        }
        return sendPicture(request, reply, subject, size, request.query.t, rendition, true);
      } finally {
        // A request that failed (or answered) before awaiting the owner's sync leaves it to finish
        // on its own; its failure is logged here, as the error handler logs an awaited one.
        if (ownSync && !ownSyncAwaited) {
          ownSync.catch((error: unknown) => request.log.error({ err: error }, "the owner's picture did not sync"));
        }
      }
    },
  );

  app.get(
    `${LIBRARY_PATH}/:file`,
    {
      config: { picture: true, auth: PICTURE_VIEWERS },
      schema: {
        summary: 'A file of the "User Photos" library, e.g. jane_contoso_com_MThumb.jpg',
        tags: ['sites'],
        params: FileParams,
        querystring: FileQuery,
        response: { ...imageResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const viewer = userPrincipalOf(request);
      // The folder's own address (a trailing slash) names no file.
      if (request.params.file.trim() === '') {
        throw notFound(`Name a file of ${LIBRARY_PATH}, e.g. jane_contoso_com_MThumb.jpg.`);
      }
      const parsed = parseRenditionFileName(request.params.file);
      const userId = parsed && (await userIdForFileStem(db, parsed.stem));
      const user = userId ? await findUserById(db, userId) : undefined;
      checkPictureAccess(viewer, user ?? { id: '' });
      const rendition = parsed && user && (await getRendition(db, user.id, parsed.size));
      if (!parsed || !user || !rendition || !picturesShown(user))
        throw notFound(`There is no file ${request.params.file} in ${LIBRARY_PATH}.`);
      return sendPicture(request, reply, user, parsed.size, request.query.t, undefined, true, 'file');
    },
  );

  async function subjectAndRendition(upn: string, size: RenditionSize): Promise<Subject> {
    const [row] = await userAndRendition(db, upn, size);
    if (!row) return { subject: undefined };
    const subject = toUser(row);
    const syncedEtag = row.synced_etag ?? null;
    // A picture hidden behind the placeholder (SPS-PicturePlaceholderState 1) is not shown.
    if (
      row.etag === null ||
      row.blob_key === null ||
      row.side === null ||
      row.byte_size === null ||
      row.placeholder_state !== 0
    ) {
      return { subject, syncedEtag };
    }
    const rendition: Rendition = {
      etag: row.etag,
      pictureTimestamp: row.picture_timestamp,
      blobKey: row.blob_key,
      side: row.side,
      byteSize: row.byte_size,
    };
    return { subject, rendition, syncedEtag };
  }

  /**
   * The user asked about and, when it came with the same query, their rendition of `size`. An
   * address that does not say whose picture is refused as an address (`invalid_request`): a
   * browser's page says the address is wrong, not that a form needs checking.
   */
  async function resolveSubject(query: PhotoQuery, size: RenditionSize, requestReads: ReadCache): Promise<Subject> {
    const account = query.accountname ?? query.username;
    if (account !== undefined) {
      const upn = upnFromAccountName(account);
      if (!upn) throw invalidInput(`"${account}" is not an account name (like jane@contoso.com).`, 'invalid_request');
      return requestReads.read(
        `picture ${size} ${upn}`,
        () => subjectAndRendition(upn, size),
        FROM_DIRECTORY | FROM_PICTURES,
      );
    }
    if (query.url !== undefined) {
      const name = safeDecode(query.url.split('?')[0]?.split('/').pop() ?? '');
      const parsed = parseRenditionFileName(name);
      const userId = parsed && (await userIdForFileStem(db, parsed.stem));
      return { subject: userId ? await findUserById(db, userId) : undefined };
    }
    throw invalidInput('Say whose picture you want with accountname=, username= or url=.', 'invalid_request');
  }
}

/** Whether a picture address names the viewer by account name (as their own L picture's does). */
function namesViewer(query: PhotoQuery, viewer: DirectoryUser): boolean {
  const account = query.accountname ?? query.username;
  return account !== undefined && upnFromAccountName(account) === viewer.upn;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalidInput(`"${text}" is not a valid URL.`, 'invalid_request');
  }
}
