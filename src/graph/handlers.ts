import type { FastifyReply, FastifyRequest } from 'fastify';
import { getDirectoryPhoto, removeDirectoryPhoto, setDirectoryPhoto } from '../directory/photo.js';
import { READ_ANYONE_SCOPES } from '../directory/scopes.js';
import { normalizeUpn } from '../directory/upn.js';
import { countUsers, listUsers, picturesShown, type DirectoryUser, type UserOrder } from '../directory/users.js';
import { AppError, invalidInput, unsupportedMediaType } from '../errors.js';
import { appActor, recordAudit, type AuditAction } from '../admin/audit.js';
import { principalOf, type Principal } from '../http/auth.js';
import { CACHE_CONTROL, clientHasCurrent, strongEtag } from '../http/conditional.js';
import { renderSquareJpegs, sniffImageType, squareSide } from '../media/media.js';
import { GRAPH_PHOTO_SIDES } from '../mail/photo-sizes.js';
import {
  MAIL_PHOTO_MAX_BYTES,
  getMailPhoto,
  readingCurrentMailPhoto,
  removeMailPhoto,
  setMailPhoto,
} from '../mail/photo-store.js';
import type { Services } from '../services.js';
import type { Db } from '../storage/database.js';
import { contentTag } from '../storage/hash.js';
import { graphSubject } from './access.js';
import { graphErrors } from './errors.js';
import { parseFilter, parseSelect, userResource } from './users.js';

/** Graph's default and largest page of /users. */
const DEFAULT_PAGE = 100;
const MAX_PAGE = 999;
const LIST_OPTIONS = ['$select', '$filter', '$top', '$skiptoken', '$count', '$orderby'];

// What Graph's routes do, one named handler per route. `id` is the user the path names
// (/users/{id | userPrincipalName}), or undefined for /me: the caller. A user's photo is the
// mail photo; for a user without a mailbox it is the directory (Entra) photo, as in Graph.

/** A photo Graph serves: the master's side and ETag, and its bytes at each available size. */
interface GraphPhoto {
  side: number;
  etag: string;
  read(side: number): Promise<Buffer | undefined>;
}

/** Sizes above the stored photo are not available, as in Exchange. */
const availableSides = (photo: GraphPhoto): number[] => GRAPH_PHOTO_SIDES.filter((side) => side <= photo.side);
/** Each size has its own strong ETag; the master's is the photo's own. */
const sizeEtag = (photo: GraphPhoto, side: number) => (side === photo.side ? photo.etag : `${photo.etag}-${side}`);

const UPLOAD_TYPES = ['image/jpeg', 'image/jpg', 'image/png', 'image/gif', 'image/webp', 'application/octet-stream'];
/**
 * PnPjs's @pnp/graph sends every request, photo.setContent's image bytes too, with its default
 * Content-Type: application/json, and Graph takes the photo: a JSON-declared body is taken when
 * its bytes are an image's, and refused as any other non-image otherwise.
 */
const SNIFFED_TYPES = ['application/json'];

/**
 * `$orderby=displayName desc` → the order to list users in. Graph sorts users by displayName and
 * userPrincipalName by default (other properties only as advanced queries, which photosync does
 * not index), one property at a time.
 */
function parseOrderBy(text: string): UserOrder {
  const match = /^\s*(\w+)(?:\s+(asc|desc))?\s*$/i.exec(text);
  const property = match?.[1]?.toLowerCase();
  if (!match || (property !== 'displayname' && property !== 'userprincipalname')) {
    throw new AppError(
      'unsupported_query',
      `Unsupported $orderby '${text}': order users by displayName or userPrincipalName, with asc or desc.`,
    );
  }
  return {
    by: property === 'displayname' ? 'display_name' : 'upn',
    descending: match[2]?.toLowerCase() === 'desc',
  };
}

/** The page's last user, as the $skiptoken of the next page: the UPN, with the name when sorted by it. */
function skipTokenAfter(user: DirectoryUser, order: UserOrder | undefined): string {
  const key = order?.by === 'display_name' ? JSON.stringify([user.displayName, user.upn]) : user.upn;
  return Buffer.from(key).toString('base64url');
}

function parseSkipToken(
  token: string | undefined,
  order: UserOrder | undefined,
): { afterUpn?: string; afterName?: { displayName: string; upn: string } } {
  if (token === undefined) return {};
  const text = Buffer.from(token, 'base64url').toString('utf8');
  const refused = () => invalidInput('The $skiptoken is not one this server gave.', 'invalid_request');
  if (order?.by !== 'display_name') {
    if (!normalizeUpn(text)) throw refused();
    return { afterUpn: text };
  }
  let key: unknown;
  try {
    key = JSON.parse(text);
  } catch {
    throw refused();
  }
  if (!Array.isArray(key) || key.length !== 2 || typeof key[0] !== 'string' || typeof key[1] !== 'string')
    throw refused();
  if (!normalizeUpn(key[1])) throw refused();
  return { afterName: { displayName: key[0], upn: key[1] } };
}

const eventuallyConsistent = (request: FastifyRequest) =>
  String(request.headers.consistencylevel ?? '').toLowerCase() === 'eventual';

/** Graph's advanced queries ($count among them) need ConsistencyLevel: eventual. */
function requireEventualConsistency(request: FastifyRequest): void {
  if (!eventuallyConsistent(request)) {
    throw invalidInput(
      'Count is not currently supported without the ConsistencyLevel: eventual header (an advanced query).',
      'invalid_request',
    );
  }
}

type PhotoAction = Extract<
  AuditAction,
  'photo_set' | 'photo_removed' | 'directory_photo_set' | 'directory_photo_removed'
>;

/**
 * The audit entry of a change to `subject`'s photo by `principal`: an administrator's token or an
 * app's changing someone's photo is an admin action; people changing their own photo are not
 * recorded (undefined), as in the portal.
 */
function photoAudit(
  principal: Principal,
  subject: DirectoryUser,
): ((trx: Db, action: PhotoAction, etag?: string) => Promise<unknown>) | undefined {
  if (principal.kind === 'user' && principal.user.id === subject.id) return undefined;
  const actor = principal.kind === 'app' ? appActor(principal.app) : principal.user;
  return (trx, action, etag) =>
    recordAudit(trx, actor, action, { upn: subject.upn, ...(etag ? { etag } : {}), via: 'graph' });
}

export function graphHandlers(services: Services) {
  /** The user each upload is for, settled before its body was read. */
  const uploadSubjects = new WeakMap<FastifyRequest, DirectoryUser>();
  /** Uploads whose declared type says nothing of an image: their bytes must be one. */
  const sniffedUploads = new WeakSet<FastifyRequest>();
  const { db } = services.database;
  const mailDeps = services.mailStore;
  const context = (path: string) => `${services.config.publicUrl}/v1.0/$metadata#${path}`;

  /** The user's photo: the mail photo, or the directory photo for a user without a mailbox. */
  async function photoOf(user: DirectoryUser): Promise<GraphPhoto | undefined> {
    // A disabled user's photo is shown to nobody (an admin's token included), as if there were none.
    if (!picturesShown(user)) return undefined;
    if (user.hasMailbox) {
      const photo = await getMailPhoto(db, user.id);
      return (
        photo && {
          side: photo.side,
          etag: photo.etag,
          read: (side) => services.mailSizes.read(photo, side),
        }
      );
    }
    const jpeg = await getDirectoryPhoto(db, user.id);
    if (!jpeg) return undefined;
    const side = await squareSide(jpeg);
    return {
      side,
      etag: contentTag(jpeg),
      read: async (wanted) => {
        if (wanted === side) return jpeg;
        const [rendered] = await renderSquareJpegs(jpeg, [wanted]);
        return rendered?.jpeg;
      },
    };
  }

  async function existingPhotoOf(user: DirectoryUser): Promise<GraphPhoto> {
    const photo = await photoOf(user);
    if (!photo) throw graphErrors.imageNotFound();
    return photo;
  }

  const metadata = (photo: GraphPhoto, side: number) => ({
    '@odata.mediaContentType': 'image/jpeg' as const,
    '@odata.mediaEtag': strongEtag(sizeEtag(photo, side)),
    id: `${side}x${side}`,
    width: side,
    height: side,
  });

  /** `240x240` → 240, when the photo has that size; Graph's ImageNotFound otherwise. */
  function parseSize(photo: GraphPhoto, size: string): number {
    const match = /^(\d{1,4})x(\d{1,4})$/i.exec(size);
    const side = match && match[1] === match[2] ? Number(match[1]) : NaN;
    const sides = availableSides(photo);
    if (!sides.includes(side)) {
      const available = sides.map((s) => `${s}x${s}`).join(', ');
      throw graphErrors.imageNotFound(
        sides.length > 0
          ? `There is no ${size} photo. Available sizes: ${available}.`
          : // A photo smaller than the smallest of Graph's sizes is only at its own size.
            `There is no ${size} photo: this photo is ${photo.side}x${photo.side}, smaller than the smallest size listed (48x48), so /photos lists none. Ask for /photo/$value.`,
      );
    }
    return side;
  }

  async function sendPhoto(request: FastifyRequest, reply: FastifyReply, photo: GraphPhoto, side: number) {
    const representation = {
      tag: sizeEtag(photo, side),
      cacheControl: CACHE_CONTROL.revalidate,
      vary: 'Authorization',
    };
    if (clientHasCurrent(request, reply, representation)) return reply.status(304).send();
    // The default photo is the stored master, whatever its side; the listed sizes are Graph's.
    const bytes = await photo.read(side);
    if (!bytes) throw graphErrors.imageNotFound();
    return reply.type('image/jpeg').send(bytes);
  }

  return {
    /** GET /me, /users/{id}: the user resource ($select honoured). */
    async user(request: FastifyRequest, id: string | undefined) {
      const user = await graphSubject(services, principalOf(request), id, 'profile');
      const select = (request.query as { $select?: string } | undefined)?.$select;
      return { '@odata.context': context('users/$entity'), ...userResource(user, select) };
    },

    /** GET /users/$count: how many users, as text; Graph asks for ConsistencyLevel: eventual (an advanced query). */
    async usersCount(request: FastifyRequest, reply: FastifyReply) {
      const principal = principalOf(request);
      if (!READ_ANYONE_SCOPES.some((scope) => principal.scopes.has(scope))) throw graphErrors.profileDenied();
      requireEventualConsistency(request);
      return reply.type('text/plain').send(String(await countUsers(services.database.db)));
    },

    /**
     * GET /users: a page of users, with $select, $filter, $top and @odata.nextLink; with $count=true
     * (an advanced query, ConsistencyLevel: eventual) also @odata.count, the number of users the
     * filter matches on every page, as Graph's advanced queries answer.
     */
    async users(request: FastifyRequest) {
      const principal = principalOf(request);
      if (!READ_ANYONE_SCOPES.some((scope) => principal.scopes.has(scope))) throw graphErrors.profileDenied();
      const query = request.query as Record<string, string | undefined>;
      for (const key of Object.keys(query)) {
        if (key.startsWith('$') && !LIST_OPTIONS.includes(key.toLowerCase())) {
          throw invalidInput(
            `photosync does not support ${key} on /users; use $select, $filter, $orderby, $top and $count.`,
            'invalid_request',
          );
        }
      }
      const option = (name: string) => Object.entries(query).find(([k]) => k.toLowerCase() === name)?.[1];
      const top = option('$top') === undefined ? DEFAULT_PAGE : Number(option('$top'));
      if (!Number.isInteger(top) || top < 1 || top > MAX_PAGE) {
        throw invalidInput(
          `Invalid page size specified: '${option('$top')}'. Must be between 1 and ${MAX_PAGE} inclusive.`,
          'invalid_request',
        );
      }
      const countText = option('$count');
      if (countText !== undefined && !/^(?:true|false)$/i.test(countText)) {
        throw invalidInput(`Invalid $count value '${countText}': use true or false.`, 'invalid_request');
      }
      const withCount = countText?.toLowerCase() === 'true';
      if (withCount) requireEventualConsistency(request);
      const select = option('$select');
      const filterText = option('$filter');
      const filter = filterText === undefined ? undefined : parseFilter(filterText);
      parseSelect(select);
      const orderText = option('$orderby');
      const order = orderText === undefined ? undefined : parseOrderBy(orderText);
      // Graph sorts a filtered list only as an advanced query.
      if (order && filter && !(withCount && eventuallyConsistent(request))) {
        throw new AppError(
          'unsupported_query',
          'Sorting not supported for current query. With $filter, $orderby needs $count=true and the header ConsistencyLevel: eventual.',
        );
      }
      const after = parseSkipToken(option('$skiptoken'), order);
      const rows = await listUsers(db, {
        ...after,
        limit: top + 1,
        ...(order ? { order } : {}),
        ...(filter ? { where: (q) => q.where(filter) } : {}),
      });
      const page = rows.slice(0, top);
      const body: Record<string, unknown> = {
        '@odata.context': context(select ? `users(${parseSelect(select).join(',')})` : 'users'),
        ...(withCount ? { '@odata.count': await countUsers(db, filter) } : {}),
        value: page.map((user) => userResource(user, select)),
      };
      if (rows.length > top) {
        const next = new URLSearchParams();
        if (select !== undefined) next.set('$select', select);
        if (filterText !== undefined) next.set('$filter', filterText);
        if (option('$top') !== undefined) next.set('$top', String(top));
        if (withCount) next.set('$count', 'true');
        if (orderText !== undefined) next.set('$orderby', orderText);
        next.set('$skiptoken', skipTokenAfter(page[page.length - 1]!, order));
        body['@odata.nextLink'] = `${services.config.publicUrl}/v1.0/users?${next.toString().replace(/\+/g, '%20')}`;
      }
      return body;
    },

    /** GET …/photo: the largest size's metadata. */
    async photo(request: FastifyRequest, id: string | undefined) {
      const user = await graphSubject(services, principalOf(request), id, 'read');
      const photo = await existingPhotoOf(user);
      return { '@odata.context': context(`users('${user.id}')/photo/$entity`), ...metadata(photo, photo.side) };
    },

    /** GET …/photo/$value: the master's bytes. */
    async photoValue(request: FastifyRequest, reply: FastifyReply, id: string | undefined) {
      const user = await graphSubject(services, principalOf(request), id, 'read');
      return readingCurrentMailPhoto(async () => {
        const photo = await existingPhotoOf(user);
        return sendPhoto(request, reply, photo, photo.side);
      });
    },

    /**
     * PUT or PATCH …/photo/$value, before the body is read: whose photo, whether the caller may
     * change it, and whether the declared type is an image's.
     */
    async beforeSetPhoto(request: FastifyRequest, id: string | undefined): Promise<void> {
      const user = await graphSubject(services, principalOf(request), id, 'write');
      const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (SNIFFED_TYPES.includes(type)) sniffedUploads.add(request);
      else if (!UPLOAD_TYPES.includes(type)) {
        throw unsupportedMediaType(
          `Send the photo with Content-Type image/jpeg, image/png, image/gif or image/webp (got "${type || 'none'}").`,
        );
      }
      uploadSubjects.set(request, user);
    },

    /** PUT or PATCH …/photo/$value, once the body is read: it is the new photo. */
    async setPhoto(request: FastifyRequest, reply: FastifyReply) {
      const user = uploadSubjects.get(request);
      if (!user) throw new Error('setPhoto ran without beforeSetPhoto');
      const body = request.body;
      if (!Buffer.isBuffer(body) || body.length === 0) {
        throw new AppError('image_empty', 'The request has no photo in its body.');
      }
      if (sniffedUploads.has(request) && sniffImageType(body) === null) {
        throw unsupportedMediaType(
          `The body is declared ${String(request.headers['content-type'])} and is not a JPEG, PNG, GIF or WebP image: ` +
            'send the photo’s bytes, with Content-Type image/jpeg, image/png, image/gif or image/webp.',
        );
      }
      // A user without a mailbox has the directory (Entra) photo, which Graph writes for them.
      // Someone else's photo changed is recorded in the commit that changes it (the same picture
      // again changes nothing, and is not).
      const audit = photoAudit(principalOf(request), user);
      if (user.hasMailbox) {
        await setMailPhoto(mailDeps, user, body, audit && ((trx, photo) => audit(trx, 'photo_set', photo.etag)));
      } else {
        await setDirectoryPhoto(
          db,
          user.id,
          body,
          MAIL_PHOTO_MAX_BYTES,
          audit && ((trx) => audit(trx, 'directory_photo_set')),
        );
      }
      return reply.status(200).send(undefined as never);
    },

    /** DELETE …/photo. */
    async removePhoto(request: FastifyRequest, reply: FastifyReply, id: string | undefined) {
      const user = await graphSubject(services, principalOf(request), id, 'write');
      const audit = photoAudit(principalOf(request), user);
      const removed = user.hasMailbox
        ? await removeMailPhoto(mailDeps, user, audit && ((trx) => audit(trx, 'photo_removed')))
        : await removeDirectoryPhoto(db, user.id, audit && ((trx) => audit(trx, 'directory_photo_removed')));
      if (!removed) throw graphErrors.imageNotFound();
      return reply.status(204).send(null);
    },

    /** GET …/photos: every available size's metadata. */
    async photos(request: FastifyRequest, id: string | undefined) {
      const user = await graphSubject(services, principalOf(request), id, 'read');
      const photo = await photoOf(user);
      return {
        '@odata.context': context(`users('${user.id}')/photos`),
        value: photo ? availableSides(photo).map((side) => metadata(photo, side)) : [],
      };
    },

    /** GET …/photos/{size}: one size's metadata. */
    async photoSize(request: FastifyRequest, id: string | undefined, size: string) {
      const user = await graphSubject(services, principalOf(request), id, 'read');
      const photo = await existingPhotoOf(user);
      return {
        '@odata.context': context(`users('${user.id}')/photos/$entity`),
        ...metadata(photo, parseSize(photo, size)),
      };
    },

    /** GET …/photos/{size}/$value: one size's bytes. */
    async photoSizeValue(request: FastifyRequest, reply: FastifyReply, id: string | undefined, size: string) {
      const user = await graphSubject(services, principalOf(request), id, 'read');
      return readingCurrentMailPhoto(async () => {
        const photo = await existingPhotoOf(user);
        return sendPhoto(request, reply, photo, parseSize(photo, size));
      });
    },
  };
}
