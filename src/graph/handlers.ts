import type { FastifyReply, FastifyRequest } from 'fastify';
import { picturesShown, type DirectoryUser } from '../directory/users.js';
import { AppError, unsupportedMediaType } from '../errors.js';
import { principalOf } from '../http/auth.js';
import { CACHE_CONTROL, clientHasCurrent, strongEtag } from '../http/conditional.js';
import { availableSides, sizeEtag } from '../mail/photo-sizes.js';
import { getMailPhoto, removeMailPhoto, setMailPhoto, type MailPhoto } from '../mail/photo-store.js';
import type { Services } from '../services.js';
import { graphSubject } from './access.js';
import { graphErrors } from './errors.js';

// What Graph's routes do, one named handler per route. `id` is the user the path names
// (/users/{id | userPrincipalName}), or undefined for /me: the caller.

const UPLOAD_TYPES = ['image/jpeg', 'image/jpg', 'image/png', 'image/gif', 'image/webp', 'application/octet-stream'];

export function graphHandlers(services: Services) {
  const { db } = services.database;
  const mailDeps = { db, dialect: services.database.dialect, blobs: services.blobs };
  const context = (path: string) => `${services.config.publicUrl}/v1.0/$metadata#${path}`;

  async function mailPhotoOf(user: DirectoryUser): Promise<MailPhoto> {
    if (!user.hasMailbox) throw graphErrors.noMailbox();
    const photo = picturesShown(user) ? await getMailPhoto(db, user.id) : undefined;
    if (!photo) throw graphErrors.imageNotFound();
    return photo;
  }

  const metadata = (photo: MailPhoto, side: number) => ({
    '@odata.mediaContentType': 'image/jpeg' as const,
    '@odata.mediaEtag': strongEtag(sizeEtag(photo, side)),
    id: `${side}x${side}`,
    width: side,
    height: side,
  });

  /** `240x240` → 240, when the photo has that size; Graph's ImageNotFound otherwise. */
  function parseSize(photo: MailPhoto, size: string): number {
    const match = /^(\d{1,4})x(\d{1,4})$/i.exec(size);
    const side = match && match[1] === match[2] ? Number(match[1]) : NaN;
    const sides = availableSides(photo);
    if (!sides.includes(side)) {
      const available = sides.map((s) => `${s}x${s}`).join(', ');
      throw graphErrors.imageNotFound(`There is no ${size} photo. Available sizes: ${available}.`);
    }
    return side;
  }

  async function sendPhoto(request: FastifyRequest, reply: FastifyReply, photo: MailPhoto, side: number) {
    const representation = {
      tag: sizeEtag(photo, side),
      cacheControl: CACHE_CONTROL.revalidate,
      vary: 'Authorization',
    };
    if (clientHasCurrent(request, reply, representation)) return reply.status(304).send();
    // The default photo is the stored master, whatever its side; the listed sizes are Graph's.
    const bytes = await services.mailSizes.read(photo, side);
    if (!bytes) throw graphErrors.imageNotFound();
    return reply.type('image/jpeg').send(bytes);
  }

  return {
    /** GET /me, /users/{id}: the user resource. */
    async user(request: FastifyRequest, id: string | undefined) {
      const user = await graphSubject(services, principalOf(request), id, 'profile');
      return {
        '@odata.context': context('users/$entity'),
        id: user.id,
        displayName: user.displayName,
        userPrincipalName: user.upn,
        mail: user.hasMailbox ? user.upn : null,
      };
    },

    /** GET …/photo: the largest size's metadata. */
    async photo(request: FastifyRequest, id: string | undefined) {
      const user = await graphSubject(services, principalOf(request), id, 'read');
      const photo = await mailPhotoOf(user);
      return { '@odata.context': context(`users('${user.id}')/photo/$entity`), ...metadata(photo, photo.side) };
    },

    /** GET …/photo/$value: the master's bytes. */
    async photoValue(request: FastifyRequest, reply: FastifyReply, id: string | undefined) {
      const user = await graphSubject(services, principalOf(request), id, 'read');
      const photo = await mailPhotoOf(user);
      return sendPhoto(request, reply, photo, photo.side);
    },

    /** PUT or PATCH …/photo/$value: the body is the new photo. */
    async setPhoto(request: FastifyRequest, reply: FastifyReply, id: string | undefined) {
      const user = await graphSubject(services, principalOf(request), id, 'write');
      const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (!UPLOAD_TYPES.includes(type)) {
        throw unsupportedMediaType(
          `Send the photo with Content-Type image/jpeg, image/png, image/gif or image/webp (got "${type || 'none'}").`,
        );
      }
      const body = request.body;
      if (!Buffer.isBuffer(body) || body.length === 0) {
        throw new AppError('image_empty', 'The request has no photo in its body.');
      }
      // A user without a mailbox is refused by the mail store (Graph's MailboxNotEnabledForRESTAPI).
      await setMailPhoto(mailDeps, user, body);
      return reply.status(200).send(undefined as never);
    },

    /** DELETE …/photo. */
    async removePhoto(request: FastifyRequest, reply: FastifyReply, id: string | undefined) {
      const user = await graphSubject(services, principalOf(request), id, 'write');
      if (!(await removeMailPhoto(mailDeps, user))) throw graphErrors.imageNotFound();
      return reply.status(204).send(null);
    },

    /** GET …/photos: every available size's metadata. */
    async photos(request: FastifyRequest, id: string | undefined) {
      const user = await graphSubject(services, principalOf(request), id, 'read');
      if (!user.hasMailbox) throw graphErrors.noMailbox();
      const photo = picturesShown(user) ? await getMailPhoto(db, user.id) : undefined;
      return {
        '@odata.context': context(`users('${user.id}')/photos`),
        value: photo ? availableSides(photo).map((side) => metadata(photo, side)) : [],
      };
    },

    /** GET …/photos/{size}: one size's metadata. */
    async photoSize(request: FastifyRequest, id: string | undefined, size: string) {
      const user = await graphSubject(services, principalOf(request), id, 'read');
      const photo = await mailPhotoOf(user);
      return {
        '@odata.context': context(`users('${user.id}')/photos/$entity`),
        ...metadata(photo, parseSize(photo, size)),
      };
    },

    /** GET …/photos/{size}/$value: one size's bytes. */
    async photoSizeValue(request: FastifyRequest, reply: FastifyReply, id: string | undefined, size: string) {
      const user = await graphSubject(services, principalOf(request), id, 'read');
      const photo = await mailPhotoOf(user);
      return sendPhoto(request, reply, photo, parseSize(photo, size));
    },
  };
}
