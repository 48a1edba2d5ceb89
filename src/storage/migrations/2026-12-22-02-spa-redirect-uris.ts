import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// Entra's platforms for redirect URIs: a web app's (the default) has its codes redeemed with the
// app's secret or certificate; a single-page app's (`spa` = 1) from the browser without one. Redirect
// URIs registered before were redeemed either way, so they keep that: they become single-page ones.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('directory_app_redirect_uris')
    .addColumn('spa', 'integer', (col) => col.notNull().defaultTo(0))
    .execute();
  await sql`UPDATE directory_app_redirect_uris SET spa = 1`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('directory_app_redirect_uris').dropColumn('spa').execute();
}
