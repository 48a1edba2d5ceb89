import { PostgresAdapter, sql, type Kysely } from 'kysely';
import { refreshStatement as previousRefreshStatement } from './2026-11-26-02-admin.js';

// Frozen in time: this migration never imports application types.
//
// The admin status triggers put "failing" before every other state, so a user whose photo was
// changed back to the one the sites show stayed "failing" although the sync engine found nothing
// to do. Pictures in step are now "in step" (or "no photo") whatever failed before; a failure
// counts only while the sites are out of step. This is the SQL twin of `classify` in
// src/sync/state.ts (test/sync-state.test.ts proves they agree); the triggers are rebuilt on it and
// every user's row is recomputed.

/** The sites show the placeholder and the mailbox has no photo. */
const NO_PHOTO = 'm.etag IS NULL AND COALESCE(p.placeholder_state, 1) <> 0';
/** The sites show the current mail photo, made at the configured sizes. */
const IN_STEP = `m.etag IS NOT NULL AND p.picture_timestamp IS NOT NULL AND p.picture_source = 'mail'
    AND p.synced_etag = m.etag AND (spec.value IS NULL OR p.rendition_spec = spec.value)`;

const STATE = `CASE
  WHEN u.has_mailbox <> 1 THEN 'no_mailbox'
  WHEN ${NO_PHOTO} THEN 'no_photo'
  WHEN ${IN_STEP} THEN 'in_step'
  WHEN s.failing_since IS NOT NULL THEN 'failing'
  WHEN m.etag IS NULL OR p.picture_timestamp IS NOT NULL THEN 'changed'
  ELSE 'never_synced' END`;

/** When the user entered that state: the sync, the first failure, the mail change waiting for a sync. */
function sinceExpression(now: string, greatest: string): string {
  return `CASE
  WHEN u.has_mailbox <> 1 THEN ${now}
  WHEN ${NO_PHOTO} THEN ${now}
  WHEN ${IN_STEP} THEN p.picture_timestamp
  WHEN s.failing_since IS NOT NULL THEN s.failing_since
  WHEN m.etag IS NULL THEN ${now}
  WHEN p.picture_timestamp IS NULL THEN COALESCE(m.changed_at, ${now})
  ELSE ${greatest}(m.changed_at, p.picture_timestamp) END`;
}

/** Recomputes the status rows of the users matching `where`; the since time survives an unchanged state. */
export function refreshStatement(where: string, postgres: boolean): string {
  const now = postgres
    ? '(extract(epoch from clock_timestamp()) * 1000)::bigint'
    : "CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER)";
  return `INSERT INTO admin_user_status (user_id, state, since, upn, search_name, rendition_spec)
SELECT u.id, ${STATE}, ${sinceExpression(now, postgres ? 'GREATEST' : 'MAX')}, u.upn, LOWER(u.display_name), p.rendition_spec
FROM directory_users u
LEFT JOIN mail_photos m ON m.user_id = u.id
LEFT JOIN site_profiles p ON p.user_id = u.id
LEFT JOIN sync_state s ON s.user_id = u.id
LEFT JOIN admin_settings spec ON spec.name = 'effective_rendition_spec'
WHERE ${where}
ON CONFLICT (user_id) DO UPDATE SET
  since = CASE WHEN admin_user_status.state = excluded.state THEN admin_user_status.since ELSE excluded.since END,
  state = excluded.state,
  upn = excluded.upn,
  search_name = excluded.search_name,
  rendition_spec = excluded.rendition_spec`;
}

/** The SQLite triggers of 2026-11-26-02-admin, each with the statement it runs (PostgreSQL's call one function). */
export const SQLITE_TRIGGERS = [
  { name: 'admin_status_directory_users_insert', on: 'INSERT ON directory_users', key: 'NEW.id' },
  {
    name: 'admin_status_directory_users_update',
    on: 'UPDATE OF has_mailbox, display_name, upn ON directory_users',
    key: 'NEW.id',
  },
  { name: 'admin_status_mail_photos_insert', on: 'INSERT ON mail_photos', key: 'NEW.user_id' },
  { name: 'admin_status_mail_photos_update', on: 'UPDATE ON mail_photos', key: 'NEW.user_id' },
  { name: 'admin_status_mail_photos_delete', on: 'DELETE ON mail_photos', key: 'OLD.user_id' },
  { name: 'admin_status_site_profiles_insert', on: 'INSERT ON site_profiles', key: 'NEW.user_id' },
  {
    name: 'admin_status_site_profiles_update',
    on: 'UPDATE OF placeholder_state, picture_source, synced_etag, rendition_spec, picture_timestamp ON site_profiles',
    key: 'NEW.user_id',
  },
  { name: 'admin_status_site_profiles_delete', on: 'DELETE ON site_profiles', key: 'OLD.user_id' },
  { name: 'admin_status_sync_state_insert', on: 'INSERT ON sync_state', key: 'NEW.user_id' },
  {
    name: 'admin_status_sync_state_update',
    on: 'UPDATE OF failing_since ON sync_state',
    key: 'NEW.user_id',
    when: 'WHEN OLD.failing_since IS NOT NEW.failing_since',
  },
  { name: 'admin_status_sync_state_delete', on: 'DELETE ON sync_state', key: 'OLD.user_id' },
] as const;

async function install(db: Kysely<any>, statement: (where: string, postgres: boolean) => string): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  if (postgres) {
    await sql
      .raw(
        `CREATE OR REPLACE FUNCTION admin_refresh_status(target text) RETURNS void LANGUAGE sql AS $body$
${statement('u.id = target', true)}
$body$`,
      )
      .execute(db);
  } else {
    for (const trigger of SQLITE_TRIGGERS) {
      await sql.raw(`DROP TRIGGER IF EXISTS ${trigger.name}`).execute(db);
      const when = 'when' in trigger ? trigger.when : '';
      await sql
        .raw(
          `CREATE TRIGGER ${trigger.name} AFTER ${trigger.on} FOR EACH ROW ${when}
           BEGIN ${statement(`u.id = ${trigger.key}`, false)}; END`,
        )
        .execute(db);
    }
  }
  await sql.raw(statement('true', postgres)).execute(db);
}

export async function up(db: Kysely<any>): Promise<void> {
  await install(db, refreshStatement);
}

export async function down(db: Kysely<any>): Promise<void> {
  await install(db, previousRefreshStatement);
}
