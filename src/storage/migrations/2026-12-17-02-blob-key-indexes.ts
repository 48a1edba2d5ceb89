import type { Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// The blob sweeper asks, 500 keys at a time, which keys a row still names (and on PostgreSQL
// removes a blob only where none does). Without an index on the columns holding blob keys each
// question read both tables whole: on a store of 100,000 users a start-up sweep took 40 s, most of
// it in those reads, and on SQLite each held the server's event loop for up to 100 ms.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('mail_photos_blob_key').on('mail_photos').column('blob_key').execute();
  await db.schema.createIndex('site_renditions_blob_key').on('site_renditions').column('blob_key').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('site_renditions_blob_key').execute();
  await db.schema.dropIndex('mail_photos_blob_key').execute();
}
