import type { Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// Connect mode's portal sessions: a tenant user signed in with their Microsoft 365 account
// (OpenID Connect) is not a directory user, so their session is kept apart from
// directory_sessions and names the tenant user (m365_users) it belongs to. Only the SHA-256 of the
// session id is kept.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('m365_sessions')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('m365_users.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('m365_sessions_user').on('m365_sessions').column('user_id').execute();
  await db.schema.createIndex('m365_sessions_expires').on('m365_sessions').column('expires_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('m365_sessions').execute();
}
