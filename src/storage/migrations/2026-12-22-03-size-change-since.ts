import { PostgresAdapter, sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// A picture made at other sizes than the ones in use is "changed since last sync" from the moment
// the sizes were changed, not from the sync that made it: the admin status rows said "since" the
// user's last sync, weeks back for some, and "Waiting longest" put them first. The status
// statement's since time takes the time the sizes in use were set (admin_settings' updated_at of
// `effective_rendition_spec`) when the sites show the current mail photo at other sizes. The
// statement is rewritten where it is installed (each SQLite trigger, PostgreSQL's
// admin_refresh_status); rows keep their since time until their state changes, as always.

const ELSE = (greatest: string) => `ELSE ${greatest}(m.changed_at, p.picture_timestamp) END`;
const ELSE_NOW = (greatest: string) =>
  `ELSE ${greatest}(m.changed_at, p.picture_timestamp, CASE WHEN p.synced_etag = m.etag AND spec.value IS NOT NULL
    AND (p.rendition_spec IS NULL OR p.rendition_spec <> spec.value) THEN spec.updated_at ELSE 0 END) END`;

async function rewrite(db: Kysely<any>, from: (greatest: string) => string, to: (greatest: string) => string) {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    const { rows } = await sql<{
      definition: string;
    }>`SELECT pg_get_functiondef('admin_refresh_status(text)'::regprocedure) AS definition`.execute(db);
    const definition = rows[0]!.definition;
    if (!definition.includes(from('GREATEST')))
      throw new Error('2026-12-22-03: admin_refresh_status is not as expected');
    await sql.raw(definition.replace(from('GREATEST'), to('GREATEST'))).execute(db);
    return;
  }
  const { rows } = await sql<{
    name: string;
    sql: string;
  }>`SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'admin_status_%' ORDER BY name`.execute(
    db,
  );
  const changing = rows.filter((row) => row.sql.includes(from('MAX')));
  if (changing.length === 0) throw new Error('2026-12-22-03: the admin status triggers are not as expected');
  for (const row of changing) {
    await sql.raw(`DROP TRIGGER ${row.name}`).execute(db);
    await sql.raw(row.sql.replace(from('MAX'), to('MAX'))).execute(db);
  }
}

export async function up(db: Kysely<any>): Promise<void> {
  await rewrite(db, ELSE, ELSE_NOW);
}

export async function down(db: Kysely<any>): Promise<void> {
  await rewrite(db, ELSE_NOW, ELSE);
}
