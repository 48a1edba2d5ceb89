import { sql, PostgresAdapter, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// Files in the "User Photos" library that are nobody's picture: SharePoint's libraries take any
// file, and tools (connect mode's write check, an administrator's script) put small ones there.
// They are kept in the row itself (at most a few megabytes, seldom more than one or two), so the
// photo store and its sweeper never see them.

export async function up(db: Kysely<any>): Promise<void> {
  const bytes = db.getExecutor().adapter instanceof PostgresAdapter ? sql`bytea` : sql`blob`;
  await db.schema
    .createTable('site_library_files')
    /** The file name in lower case: SharePoint's addresses ignore case. */
    .addColumn('key', 'text', (c) => c.primaryKey())
    /** The name as it was given. */
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('bytes', bytes, (c) => c.notNull())
    .addColumn('etag', 'text', (c) => c.notNull())
    .addColumn('modified_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('site_library_files').ifExists().execute();
}
