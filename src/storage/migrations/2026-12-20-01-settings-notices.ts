import { PostgresAdapter, sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// PostgreSQL: a commit that changes the administrator's settings sends "settings <schema>" on
// `photosync_topic_changes`, so every instance reads them again at once instead of at its next
// look (every two seconds, and only when asked): a sync on one server right after the rendition
// sizes were changed on another makes the new sizes. Instances of earlier versions do not listen
// for it, so nothing goes on `photosync_changes`.

export async function up(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`
    CREATE FUNCTION photosync_notify_settings() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('photosync_topic_changes', 'settings ' || TG_TABLE_SCHEMA);
      RETURN NULL;
    END
    $$`.execute(db);
  await sql`
    CREATE TRIGGER admin_settings_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON admin_settings
    FOR EACH STATEMENT EXECUTE FUNCTION photosync_notify_settings()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`DROP TRIGGER admin_settings_notify ON admin_settings`.execute(db);
  await sql`DROP FUNCTION photosync_notify_settings()`.execute(db);
}
