import { PostgresAdapter, sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types. Timestamps are epoch
// milliseconds in bigint columns and flags are 0/1 integers, so both dialects read the same.

export async function up(db: Kysely<any>): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  const bytes = postgres ? sql`bytea` : sql`blob`;

  // directory (Entra ID role)
  await db.schema
    .createTable('directory_users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('upn', 'text', (c) => c.notNull().unique())
    .addColumn('display_name', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('has_mailbox', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('password_hash', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('directory_users_display_name').on('directory_users').column('display_name').execute();

  await db.schema
    .createTable('directory_tokens')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('directory_users.id').onDelete('cascade'))
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .execute();
  await db.schema.createIndex('directory_tokens_user').on('directory_tokens').column('user_id').execute();

  await db.schema
    .createTable('directory_sessions')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('directory_users.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('directory_sessions_user').on('directory_sessions').column('user_id').execute();

  await db.schema
    .createTable('directory_photos')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('directory_users.id').onDelete('cascade'))
    .addColumn('jpeg', bytes, (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  // mail (Exchange Online role): one row per mailbox that has ever had a photo; etag NULL = removed
  await db.schema
    .createTable('mail_photos')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('directory_users.id').onDelete('cascade'))
    .addColumn('etag', 'text')
    .addColumn('blob_key', 'text')
    .addColumn('side', 'integer')
    .addColumn('byte_size', 'integer')
    .addColumn('changed_at', 'bigint', (c) => c.notNull())
    .execute();

  // sites (SharePoint role)
  await db.schema
    .createTable('site_profiles')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('directory_users.id').onDelete('cascade'))
    .addColumn('file_stem', 'text', (c) => c.notNull())
    .addColumn('placeholder_state', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('exchange_sync_state', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('picture_timestamp', 'bigint')
    .addColumn('picture_source', 'text')
    .addColumn('synced_etag', 'text')
    .addColumn('rendition_spec', 'text')
    .addColumn('last_checked_at', 'bigint')
    .execute();
  await db.schema.createIndex('site_profiles_file_stem').unique().on('site_profiles').column('file_stem').execute();

  await db.schema
    .createTable('site_renditions')
    .addColumn('user_id', 'text', (c) => c.notNull().references('directory_users.id').onDelete('cascade'))
    .addColumn('size', 'text', (c) => c.notNull())
    .addColumn('blob_key', 'text', (c) => c.notNull())
    .addColumn('etag', 'text', (c) => c.notNull())
    .addColumn('side', 'integer', (c) => c.notNull())
    .addColumn('byte_size', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('site_renditions_pk', ['user_id', 'size'])
    .execute();

  // sync (the pull from mail into the sites)
  await db.schema
    .createTable('sync_attempts')
    .addColumn('id', postgres ? 'bigserial' : 'integer', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('directory_users.id').onDelete('cascade'))
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('duration_ms', 'real', (c) => c.notNull())
    .addColumn('etag_before', 'text')
    .addColumn('etag_after', 'text')
    .addColumn('error', 'text')
    .execute();
  await db.schema
    .createIndex('sync_attempts_user_started')
    .on('sync_attempts')
    .columns(['user_id', 'started_at'])
    .execute();

  await db.schema
    .createTable('sync_state')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('directory_users.id').onDelete('cascade'))
    .addColumn('last_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('last_outcome', 'text', (c) => c.notNull())
    .addColumn('failing_since', 'bigint')
    .addColumn('failed_etag', 'text')
    .addColumn('retry_after', 'bigint')
    .addColumn('last_error', 'text')
    .execute();

  // A lease per user for SQLite, whose processes share no lock manager (PostgreSQL uses advisory locks).
  await db.schema
    .createTable('sync_leases')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();

  // storage: photo bytes when the database is PostgreSQL (SQLite keeps them as files)
  await db.schema
    .createTable('storage_blobs')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('bytes', bytes, (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'storage_blobs',
    'sync_leases',
    'sync_state',
    'sync_attempts',
    'site_renditions',
    'site_profiles',
    'mail_photos',
    'directory_photos',
    'directory_sessions',
    'directory_tokens',
    'directory_users',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
