import { PostgresAdapter, sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// The admin users search matches any part of a name or UPN ("kask" finds "Kalle Kask"), through an
// index on both databases. PostgreSQL: pg_trgm GIN indexes on `search_name` and `upn`, which serve
// `LIKE '%kask%'`. SQLite: an FTS5 index with the trigram tokenizer over a small table of its own
// (an INTEGER PRIMARY KEY, so VACUUM never renumbers what the index points at), kept current by
// triggers on `admin_user_status`. Both need three characters or more; shorter searches stay
// prefix searches on the existing indexes.

export async function up(db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    // In public, not in the schema photosync's tables live in: one extension serves the database,
    // and dropping a schema must not take it from the others.
    await sql`CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public`.execute(db);
    const found = await sql<{ schema: string }>`SELECT extnamespace::regnamespace::text AS schema
      FROM pg_extension WHERE extname = 'pg_trgm'`.execute(db);
    const ops = `${found.rows[0]!.schema}.gin_trgm_ops`;
    for (const column of ['search_name', 'upn']) {
      await sql
        .raw(`CREATE INDEX admin_user_status_${column}_trgm ON admin_user_status USING gin (${column} ${ops})`)
        .execute(db);
    }
    return;
  }
  const statements = [
    `CREATE TABLE admin_user_search_text (
      id INTEGER PRIMARY KEY,
      user_id TEXT NOT NULL UNIQUE,
      text TEXT NOT NULL)`,
    `CREATE VIRTUAL TABLE admin_user_search USING fts5(
      text, content='admin_user_search_text', content_rowid='id', tokenize='trigram')`,
    `CREATE TRIGGER admin_user_search_text_ai AFTER INSERT ON admin_user_search_text BEGIN
      INSERT INTO admin_user_search(rowid, text) VALUES (new.id, new.text);
    END`,
    `CREATE TRIGGER admin_user_search_text_ad AFTER DELETE ON admin_user_search_text BEGIN
      INSERT INTO admin_user_search(admin_user_search, rowid, text) VALUES ('delete', old.id, old.text);
    END`,
    `CREATE TRIGGER admin_user_search_text_au AFTER UPDATE ON admin_user_search_text BEGIN
      INSERT INTO admin_user_search(admin_user_search, rowid, text) VALUES ('delete', old.id, old.text);
      INSERT INTO admin_user_search(rowid, text) VALUES (new.id, new.text);
    END`,
    `CREATE TRIGGER admin_user_status_search_ai AFTER INSERT ON admin_user_status BEGIN
      INSERT INTO admin_user_search_text(user_id, text) VALUES (new.user_id, new.search_name || ' ' || new.upn);
    END`,
    `CREATE TRIGGER admin_user_status_search_au AFTER UPDATE OF search_name, upn ON admin_user_status
      WHEN old.search_name IS NOT new.search_name OR old.upn IS NOT new.upn BEGIN
      UPDATE admin_user_search_text SET text = new.search_name || ' ' || new.upn WHERE user_id = new.user_id;
    END`,
    `CREATE TRIGGER admin_user_status_search_ad AFTER DELETE ON admin_user_status BEGIN
      DELETE FROM admin_user_search_text WHERE user_id = old.user_id;
    END`,
    `INSERT INTO admin_user_search_text(user_id, text) SELECT user_id, search_name || ' ' || upn FROM admin_user_status`,
  ];
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`DROP INDEX IF EXISTS admin_user_status_search_name_trgm`.execute(db);
    await sql`DROP INDEX IF EXISTS admin_user_status_upn_trgm`.execute(db);
    return;
  }
  for (const trigger of ['admin_user_status_search_ai', 'admin_user_status_search_au', 'admin_user_status_search_ad']) {
    await sql.raw(`DROP TRIGGER IF EXISTS ${trigger}`).execute(db);
  }
  await sql`DROP TABLE IF EXISTS admin_user_search`.execute(db);
  await sql`DROP TABLE IF EXISTS admin_user_search_text`.execute(db);
}
