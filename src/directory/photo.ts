import type { Db } from '../storage/database.js';
import { inTransaction } from '../storage/in-transaction.js';
import { imageRefused, payloadTooLarge } from '../errors.js';
import { makeMasterPhoto } from '../media/media.js';

// thumbnailPhoto: the directory's own small photo. Stored and shown to admins; the sites never
// read it (they take pictures only from the mail service).

export const DIRECTORY_PHOTO_MAX_BYTES = 100 * 1024;
const DIRECTORY_PHOTO_SIDE = 96;

/**
 * Stores the directory photo, made from `upload` (at most `maxUploadBytes`: 100 KB as the
 * directory takes it, more where Graph takes a photo and shrinks it for the directory), in one
 * statement. The same picture again stores the same JPEG and writes nothing; `record` (an audit
 * entry) is written in the same commit, when the photo changed.
 */
export async function setDirectoryPhoto(
  db: Db,
  userId: string,
  upload: Buffer,
  maxUploadBytes = DIRECTORY_PHOTO_MAX_BYTES,
  record?: (trx: Db) => Promise<unknown>,
): Promise<void> {
  if (upload.length > maxUploadBytes) {
    throw payloadTooLarge(
      maxUploadBytes === DIRECTORY_PHOTO_MAX_BYTES
        ? 'The directory photo (thumbnailPhoto) can be at most 100 KB.'
        : `The photo can be at most ${Math.floor(maxUploadBytes / 1024 / 1024)} MB.`,
    );
  }
  const photo = await makeMasterPhoto(upload, { maxSide: DIRECTORY_PHOTO_SIDE, maxBytes: maxUploadBytes });
  if (!photo.ok) throw imageRefused(photo);
  const values = { jpeg: photo.jpeg, updated_at: Date.now() };
  const store = (q: Db) =>
    q
      .insertInto('directory_photos')
      .values({ user_id: userId, ...values })
      .onConflict((oc) =>
        oc
          .column('user_id')
          .doUpdateSet(values)
          .where('directory_photos.jpeg', 'is distinct from', (eb) => eb.ref('excluded.jpeg')),
      )
      .returning('user_id')
      .execute();
  if (!record) {
    await store(db);
    return;
  }
  await inTransaction(db, async (trx) => {
    if ((await store(trx)).length > 0) await record(trx);
  });
}

export async function getDirectoryPhoto(db: Db, userId: string): Promise<Buffer | undefined> {
  const row = await db.selectFrom('directory_photos').select('jpeg').where('user_id', '=', userId).executeTakeFirst();
  return row?.jpeg;
}

/**
 * Removes the directory photo; false when there was none. `record` (an audit entry) is written in
 * the commit that removes it, and only when it removed one.
 */
export async function removeDirectoryPhoto(
  db: Db,
  userId: string,
  record?: (trx: Db) => Promise<unknown>,
): Promise<boolean> {
  const remove = async (q: Db) =>
    (await q.deleteFrom('directory_photos').where('user_id', '=', userId).executeTakeFirst()).numDeletedRows > 0n;
  if (!record) return remove(db);
  return inTransaction(db, async (trx) => {
    const removed = await remove(trx);
    if (removed) await record(trx);
    return removed;
  });
}
