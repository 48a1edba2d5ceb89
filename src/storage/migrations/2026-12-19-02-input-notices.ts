import { PostgresAdapter, sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// PostgreSQL: a third topic for the read cache, "inputs", what a sync decides from before it takes
// the user's lock: the mail photo, the back-off state and the profile. A commit that changes one
// of them as the decision reads it sends "inputs <schema>" on `photosync_topic_changes`. Writes
// the decision does not read send nothing: the attempt's time and outcome on sync_state, and the
// "checked" time (and the Exchange sync state) an in-step check writes on site_profiles. So the
// checks of one instance leave the other instances' kept inputs in memory. Instances of earlier
// versions do not keep these rows, so nothing goes on `photosync_changes`.

export async function up(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  // A table the notices' function does not know (none yet) names every topic, this one too.
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
        PERFORM pg_notify('photosync_topic_changes', 'inputs ' || TG_TABLE_SCHEMA);
      END IF;
      RETURN NULL;
    END
    $$`.execute(db);
  await sql`
    CREATE FUNCTION photosync_notify_inputs() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('photosync_topic_changes', 'inputs ' || TG_TABLE_SCHEMA);
      RETURN NULL;
    END
    $$`.execute(db);
  const triggers = [
    // A new photo, a removed one: every change.
    `mail_photos_inputs_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mail_photos FOR EACH STATEMENT`,
    // Rows (not statements) for inserts: the record's INSERT … ON CONFLICT updates all but the first.
    `sync_state_inputs_insert AFTER INSERT ON sync_state FOR EACH ROW`,
    `sync_state_inputs_notify AFTER DELETE OR TRUNCATE ON sync_state FOR EACH STATEMENT`,
    `sync_state_inputs_update AFTER UPDATE ON sync_state FOR EACH ROW
     WHEN ((old.failing_since, old.failed_etag, old.retry_after, old.user_id)
       IS DISTINCT FROM (new.failing_since, new.failed_etag, new.retry_after, new.user_id))`,
    `site_profiles_inputs_insert AFTER INSERT ON site_profiles FOR EACH ROW`,
    `site_profiles_inputs_notify AFTER DELETE OR TRUNCATE ON site_profiles FOR EACH STATEMENT`,
    `site_profiles_inputs_update AFTER UPDATE ON site_profiles FOR EACH ROW
     WHEN ((old.placeholder_state, old.picture_source, old.synced_etag, old.rendition_spec, old.picture_timestamp, old.user_id)
       IS DISTINCT FROM (new.placeholder_state, new.picture_source, new.synced_etag, new.rendition_spec, new.picture_timestamp, new.user_id))`,
  ];
  for (const trigger of triggers) {
    await sql.raw(`CREATE TRIGGER ${trigger} EXECUTE FUNCTION photosync_notify_inputs()`).execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  const triggers = [
    'mail_photos_inputs_notify ON mail_photos',
    'sync_state_inputs_insert ON sync_state',
    'sync_state_inputs_notify ON sync_state',
    'sync_state_inputs_update ON sync_state',
    'site_profiles_inputs_insert ON site_profiles',
    'site_profiles_inputs_notify ON site_profiles',
    'site_profiles_inputs_update ON site_profiles',
  ];
  for (const trigger of triggers) await sql.raw(`DROP TRIGGER ${trigger}`).execute(db);
  await sql`DROP FUNCTION photosync_notify_inputs()`.execute(db);
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
