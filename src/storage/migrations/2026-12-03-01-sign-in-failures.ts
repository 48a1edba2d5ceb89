import type { Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// Failed sign-ins counted in the database, so every instance on one database and every way of
// signing in (the form, the authorize page, the password grant) share one count per key. A key
// is the SHA-256 of what is counted (an address, or an address and an account), so names typed
// into the sign-in form are not kept.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('directory_sign_in_failures')
    .addColumn('key_hash', 'text', (c) => c.primaryKey())
    /** When the current window began: the first failure after the previous window ended. */
    .addColumn('window_start', 'bigint', (c) => c.notNull())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('directory_sign_in_failures_window')
    .on('directory_sign_in_failures')
    .column('window_start')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('directory_sign_in_failures').execute();
}
