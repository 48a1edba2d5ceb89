import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// Entra's "Allow public client flows" per app: only an app that allows them may use the password
// grant without its secret. Apps registered from now on do not, unless added with
// `--public-client`. Apps registered before keep what they could do (their scripts may be public
// clients); `photosync apps public-client <client id> off` turns it off.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('directory_apps')
    .addColumn('public_client', 'integer', (col) => col.notNull().defaultTo(0))
    .execute();
  await sql`UPDATE directory_apps SET public_client = 1`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('directory_apps').dropColumn('public_client').execute();
}
