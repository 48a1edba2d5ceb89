import { PostgresAdapter, sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// PostgreSQL: every commit that changes a row the serving path keeps in memory (a token, a
// session, a user, an app, a picture's rendition or its timestamp) sends a notice on the channel
// `photosync_changes`, which every instance listens to and empties its read cache on. NOTIFY is
// sent at commit and only then (never for a rollback), once per transaction, naming the schema (so
// instances on other schemas of the same database ignore it). The "checked" time
// an in-step photo view writes to site_profiles is not kept in memory, so it sends nothing.

const WHOLE_TABLES = ['directory_users', 'directory_tokens', 'directory_sessions', 'directory_apps', 'site_renditions'];

export async function up(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`
    CREATE FUNCTION photosync_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('photosync_changes', TG_TABLE_SCHEMA);
      RETURN NULL;
    END
    $$`.execute(db);
  for (const table of WHOLE_TABLES) {
    await sql
      .raw(
        `CREATE TRIGGER ${table}_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${table}
         FOR EACH STATEMENT EXECUTE FUNCTION photosync_notify_change()`,
      )
      .execute(db);
  }
  await sql`
    CREATE TRIGGER site_profiles_notify AFTER INSERT OR DELETE OR TRUNCATE ON site_profiles
    FOR EACH STATEMENT EXECUTE FUNCTION photosync_notify_change()`.execute(db);
  await sql`
    CREATE TRIGGER site_profiles_picture_notify AFTER UPDATE ON site_profiles
    FOR EACH ROW WHEN (old.picture_timestamp IS DISTINCT FROM new.picture_timestamp OR old.user_id <> new.user_id)
    EXECUTE FUNCTION photosync_notify_change()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  for (const table of [...WHOLE_TABLES, 'site_profiles']) {
    await sql.raw(`DROP TRIGGER ${table}_notify ON ${table}`).execute(db);
  }
  await sql`DROP TRIGGER site_profiles_picture_notify ON site_profiles`.execute(db);
  await sql`DROP FUNCTION photosync_notify_change()`.execute(db);
}
