import { PostgresAdapter, sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// The console's tenant search matches any part of a name or UPN ("kask" finds "Kalle Kask")
// through an index on both databases, as the users search does (2026-12-04-02-admin-search).
// PostgreSQL: pg_trgm GIN indexes on lower(display_name) and lower(upn), which serve
// `lower(…) LIKE '%kask%'`. SQLite: an FTS5 index with the trigram tokenizer over a small table of
// its own (an INTEGER PRIMARY KEY, so VACUUM never renumbers what the index points at), kept
// current by triggers on `m365_users`. Both need three characters or more; shorter searches are
// prefix searches on expression indexes of lower(display_name) and lower(upn).

export async function up(db: Kysely<any>): Promise<void> {
  for (const column of ['display_name', 'upn']) {
    await sql.raw(`CREATE INDEX m365_users_lower_${column} ON m365_users (lower(${column}))`).execute(db);
  }
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public`.execute(db);
    const found = await sql<{ schema: string }>`SELECT extnamespace::regnamespace::text AS schema
      FROM pg_extension WHERE extname = 'pg_trgm'`.execute(db);
    const ops = `${found.rows[0]!.schema}.gin_trgm_ops`;
    for (const column of ['display_name', 'upn']) {
      await sql
        .raw(`CREATE INDEX m365_users_${column}_trgm ON m365_users USING gin ((lower(${column})) ${ops})`)
        .execute(db);
    }
    return;
  }
  const statements = [
    `CREATE TABLE m365_user_search_text (
      id INTEGER PRIMARY KEY,
      user_id TEXT NOT NULL UNIQUE,
      text TEXT NOT NULL)`,
    `CREATE VIRTUAL TABLE m365_user_search USING fts5(
      text, content='m365_user_search_text', content_rowid='id', tokenize='trigram')`,
    `CREATE TRIGGER m365_user_search_text_ai AFTER INSERT ON m365_user_search_text BEGIN
      INSERT INTO m365_user_search(rowid, text) VALUES (new.id, new.text);
    END`,
    `CREATE TRIGGER m365_user_search_text_ad AFTER DELETE ON m365_user_search_text BEGIN
      INSERT INTO m365_user_search(m365_user_search, rowid, text) VALUES ('delete', old.id, old.text);
    END`,
    `CREATE TRIGGER m365_user_search_text_au AFTER UPDATE ON m365_user_search_text BEGIN
      INSERT INTO m365_user_search(m365_user_search, rowid, text) VALUES ('delete', old.id, old.text);
      INSERT INTO m365_user_search(rowid, text) VALUES (new.id, new.text);
    END`,
    `CREATE TRIGGER m365_users_search_ai AFTER INSERT ON m365_users BEGIN
      INSERT INTO m365_user_search_text(user_id, text) VALUES (new.id, new.display_name || ' ' || new.upn);
    END`,
    `CREATE TRIGGER m365_users_search_au AFTER UPDATE OF display_name, upn ON m365_users
      WHEN old.display_name IS NOT new.display_name OR old.upn IS NOT new.upn BEGIN
      UPDATE m365_user_search_text SET text = new.display_name || ' ' || new.upn WHERE user_id = new.id;
    END`,
    `CREATE TRIGGER m365_users_search_ad AFTER DELETE ON m365_users BEGIN
      DELETE FROM m365_user_search_text WHERE user_id = old.id;
    END`,
    `INSERT INTO m365_user_search_text(user_id, text) SELECT id, display_name || ' ' || upn FROM m365_users`,
  ];
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const column of ['display_name', 'upn']) {
    await sql.raw(`DROP INDEX IF EXISTS m365_users_lower_${column}`).execute(db);
  }
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`DROP INDEX IF EXISTS m365_users_display_name_trgm`.execute(db);
    await sql`DROP INDEX IF EXISTS m365_users_upn_trgm`.execute(db);
    return;
  }
  for (const trigger of ['m365_users_search_ai', 'm365_users_search_au', 'm365_users_search_ad']) {
    await sql.raw(`DROP TRIGGER IF EXISTS ${trigger}`).execute(db);
  }
  await sql`DROP TABLE IF EXISTS m365_user_search`.execute(db);
  await sql`DROP TABLE IF EXISTS m365_user_search_text`.execute(db);
}
