import { createHash } from 'node:crypto';
import type { Db } from '../storage/database.js';

// Files in the "User Photos/Profile Pictures" library that are not a user's S/M/L picture, kept
// as SharePoint keeps any file a library is given: added (or overwritten), read, recycled. The
// pictures themselves are the profiles' renditions (profiles.ts); one of these becomes a user's
// picture only when their profile's PictureURL is pointed at it (rendered from it, then the
// profile's own files, as every picture here is).

export interface LibraryFile {
  name: string;
  bytes: Buffer;
  etag: string;
  modifiedAt: number;
}

const keyOf = (name: string) => name.toLowerCase();

export async function findLibraryFile(db: Db, name: string): Promise<LibraryFile | undefined> {
  if (name.includes('\u0000')) return undefined;
  const row = await db
    .selectFrom('site_library_files')
    .select(['name', 'bytes', 'etag', 'modified_at'])
    .where('key', '=', keyOf(name))
    .executeTakeFirst();
  return row && { name: row.name, bytes: row.bytes, etag: row.etag, modifiedAt: Number(row.modified_at) };
}

/** The files by name (without their bytes), at most `limit`. */
export async function listLibraryFiles(
  db: Db,
  limit: number,
): Promise<Array<Omit<LibraryFile, 'bytes'> & { byteSize: number }>> {
  const rows = await db
    .selectFrom('site_library_files')
    .select(['name', 'etag', 'modified_at', (eb) => eb.fn<number>('length', ['bytes']).as('byte_size')])
    .orderBy('key')
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    name: row.name,
    etag: row.etag,
    modifiedAt: Number(row.modified_at),
    byteSize: Number(row.byte_size),
  }));
}

/** Adds the file; with `overwrite` false an existing one is kept and `undefined` returned. */
export async function addLibraryFile(
  db: Db,
  name: string,
  bytes: Buffer,
  overwrite: boolean,
): Promise<LibraryFile | undefined> {
  const file = {
    name,
    bytes,
    etag: createHash('sha256').update(bytes).digest('hex').slice(0, 32),
    modifiedAt: Date.now(),
  };
  const values = { key: keyOf(name), name, bytes, etag: file.etag, modified_at: file.modifiedAt };
  const insert = db.insertInto('site_library_files').values(values);
  const result = await (
    overwrite
      ? insert.onConflict((oc) =>
          oc.column('key').doUpdateSet({ name, bytes, etag: file.etag, modified_at: file.modifiedAt }),
        )
      : insert.onConflict((oc) => oc.column('key').doNothing())
  ).executeTakeFirst();
  return (result.numInsertedOrUpdatedRows ?? 0n) > 0n ? file : undefined;
}

/** Removes the file (the recycle bin photosync has is no bin at all); whether there was one. */
export async function recycleLibraryFile(db: Db, name: string): Promise<boolean> {
  if (name.includes('\u0000')) return false;
  const result = await db.deleteFrom('site_library_files').where('key', '=', keyOf(name)).executeTakeFirst();
  return result.numDeletedRows > 0n;
}
