import type { Db } from '../storage/database.js';
import { imageRefused, payloadTooLarge } from '../errors.js';
import { makeMasterPhoto } from '../media/media.js';

// thumbnailPhoto: the directory's own small photo. Stored and shown to admins; the sites never
// read it (they take pictures only from the mail service).

export const DIRECTORY_PHOTO_MAX_BYTES = 100 * 1024;
const DIRECTORY_PHOTO_SIDE = 96;

export async function setDirectoryPhoto(db: Db, userId: string, upload: Buffer): Promise<void> {
  if (upload.length > DIRECTORY_PHOTO_MAX_BYTES) {
    throw payloadTooLarge('The directory photo (thumbnailPhoto) can be at most 100 KB.');
  }
  const photo = await makeMasterPhoto(upload, { maxSide: DIRECTORY_PHOTO_SIDE, maxBytes: DIRECTORY_PHOTO_MAX_BYTES });
  if (!photo.ok) throw imageRefused(photo);
  const values = { jpeg: photo.jpeg, updated_at: Date.now() };
  await db
    .insertInto('directory_photos')
    .values({ user_id: userId, ...values })
    .onConflict((oc) => oc.column('user_id').doUpdateSet(values))
    .execute();
}

export async function getDirectoryPhoto(db: Db, userId: string): Promise<Buffer | undefined> {
  const row = await db.selectFrom('directory_photos').select('jpeg').where('user_id', '=', userId).executeTakeFirst();
  return row?.jpeg;
}
