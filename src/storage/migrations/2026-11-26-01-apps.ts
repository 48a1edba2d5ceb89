import type { Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
// App registrations (client id + hashed secret + granted scopes), the directory's own settings
// (the token signing key, the tenant id) and the scopes a user's bearer token was created with.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('directory_apps')
    .addColumn('client_id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    /** Space-separated Graph scope names, e.g. "ProfilePhoto.ReadWrite.All". */
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('directory_settings')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  // NULL = a token made before scopes existed: it keeps the default delegated scopes.
  await db.schema.alterTable('directory_tokens').addColumn('scopes', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('directory_tokens').dropColumn('scopes').execute();
  await db.schema.dropTable('directory_settings').ifExists().execute();
  await db.schema.dropTable('directory_apps').ifExists().execute();
}
