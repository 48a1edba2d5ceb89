import type { Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// The sites' S/M/L renditions of each mail photo, made when the photo is set (from the master just
// encoded) and kept beside it until it changes. A user's action then switches the sites to them
// instead of decoding the master: the render moves from the moment the user waits to the moment
// the photo is stored. The sites still take nothing until the user acts. The bytes (a few tens of
// kilobytes per user) are in the photo store beside the master, named by `blob_key`: the database
// stays small, and a backup copies them and the sweeper keeps them as it does any named photo.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('mail_photo_renditions')
    .addColumn('user_id', 'text', (c) => c.notNull().references('directory_users.id').onDelete('cascade'))
    .addColumn('size', 'text', (c) => c.notNull())
    /** The mail photo's ETag they were made from. */
    .addColumn('mail_etag', 'text', (c) => c.notNull())
    /** The S,M,L sides they were made at, e.g. "48,72,300". */
    .addColumn('rendition_spec', 'text', (c) => c.notNull())
    .addColumn('side', 'integer', (c) => c.notNull())
    .addColumn('blob_key', 'text', (c) => c.notNull())
    /** The file's content tag, checked when it is read: a damaged file is not copied into the sites. */
    .addColumn('etag', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('mail_photo_renditions_pk', ['user_id', 'size'])
    .execute();
  // The blob sweeper asks which keys a row names (see 2026-12-17-02).
  await db.schema
    .createIndex('mail_photo_renditions_blob_key')
    .on('mail_photo_renditions')
    .column('blob_key')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('mail_photo_renditions').ifExists().execute();
}
