import { PostgresAdapter, sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// PostgreSQL: the change notices (2026-12-07-02) say which rows changed, so a read cache keeps
// what was read from the others. Each notice now also goes on `photosync_topic_changes`, naming
// the topic and the schema ("directory s1", "pictures s1"): the directory's tables (users, tokens,
// sessions, apps) or the pictures' (renditions, and a profile's picture timestamp). The notice on
// `photosync_changes`, naming the schema only, is still sent, for instances of earlier versions
// that run against this schema until they are replaced (a later migration may stop sending it).
// The triggers stay as they are: the function they run is replaced. A table it does not know
// names both topics, so a trigger added later without a topic of its own still drops everything.

export async function up(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`
    CREATE OR REPLACE FUNCTION photosync_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('photosync_changes', TG_TABLE_SCHEMA);
      IF TG_TABLE_NAME IN ('directory_users', 'directory_tokens', 'directory_sessions', 'directory_apps') THEN
        PERFORM pg_notify('photosync_topic_changes', 'directory ' || TG_TABLE_SCHEMA);
      ELSIF TG_TABLE_NAME IN ('site_renditions', 'site_profiles') THEN
        PERFORM pg_notify('photosync_topic_changes', 'pictures ' || TG_TABLE_SCHEMA);
      ELSE
        PERFORM pg_notify('photosync_topic_changes', 'directory ' || TG_TABLE_SCHEMA);
        PERFORM pg_notify('photosync_topic_changes', 'pictures ' || TG_TABLE_SCHEMA);
      END IF;
      RETURN NULL;
    END
    $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`
    CREATE OR REPLACE FUNCTION photosync_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('photosync_changes', TG_TABLE_SCHEMA);
      RETURN NULL;
    END
    $$`.execute(db);
}
