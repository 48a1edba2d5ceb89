import { PostgresAdapter, sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// The admin console: settings that override the environment, prompts to sync, the audit log, each
// user's preferred language, and `admin_user_status` — one row per user with their sync state and
// since when they have been in it. Database triggers keep that row current on every write to the
// directory, mail, sites and sync tables, from any process or command, so the users table pages
// through one indexed table instead of classifying every user on every page.

/** The state of one user, computed from the joined rows `u`, `m`, `p`, `s` (see sync/status.ts). */
const STATE = `CASE
  WHEN u.has_mailbox <> 1 THEN 'no_mailbox'
  WHEN s.failing_since IS NOT NULL THEN 'failing'
  WHEN m.etag IS NULL THEN CASE WHEN p.placeholder_state = 0 THEN 'changed' ELSE 'no_photo' END
  WHEN p.picture_timestamp IS NULL THEN 'never_synced'
  WHEN p.picture_source = 'mail' AND p.synced_etag = m.etag
    AND (spec.value IS NULL OR p.rendition_spec = spec.value) THEN 'in_step'
  ELSE 'changed' END`;

/** When the user entered that state: the mail change waiting for a sync, the first failure, the sync. */
function sinceExpression(now: string, greatest: string): string {
  return `CASE
  WHEN u.has_mailbox <> 1 THEN ${now}
  WHEN s.failing_since IS NOT NULL THEN s.failing_since
  WHEN m.etag IS NULL THEN CASE WHEN p.placeholder_state = 0 THEN COALESCE(m.changed_at, ${now}) ELSE ${now} END
  WHEN p.picture_timestamp IS NULL THEN COALESCE(m.changed_at, ${now})
  WHEN p.picture_source = 'mail' AND p.synced_etag = m.etag
    AND (spec.value IS NULL OR p.rendition_spec = spec.value) THEN p.picture_timestamp
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

/** Which writes move a user's state, and how the trigger finds the user. */
const WATCHED = [
  { table: 'directory_users', events: ['INSERT', 'UPDATE OF has_mailbox, display_name, upn'], key: 'id' },
  { table: 'mail_photos', events: ['INSERT', 'UPDATE', 'DELETE'], key: 'user_id' },
  {
    table: 'site_profiles',
    events: [
      'INSERT',
      'UPDATE OF placeholder_state, picture_source, synced_etag, rendition_spec, picture_timestamp',
      'DELETE',
    ],
    key: 'user_id',
  },
  { table: 'sync_state', events: ['INSERT', 'UPDATE OF failing_since', 'DELETE'], key: 'user_id' },
] as const;

/** Every attempt rewrites sync_state; only a failure starting or ending moves the state. */
const ONLY_WHEN: Record<string, { sqlite: string; postgres: string }> = {
  'sync_state UPDATE OF failing_since': {
    sqlite: 'WHEN OLD.failing_since IS NOT NEW.failing_since',
    postgres: 'WHEN (OLD.failing_since IS DISTINCT FROM NEW.failing_since)',
  },
};

function triggerName(table: string, event: string): string {
  return `admin_status_${table}_${event.split(' ')[0]!.toLowerCase()}`;
}

export async function up(db: Kysely<any>): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  // Prefix search compares bytes, so "starts with" is one index range whatever the locale.
  const searchText = postgres ? sql`text collate "C"` : sql`text`;

  await db.schema
    .createTable('admin_settings')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_by', 'text')
    .execute();

  await db.schema
    .createTable('admin_user_status')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('directory_users.id').onDelete('cascade'))
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('since', 'bigint', (c) => c.notNull())
    .addColumn('upn', searchText, (c) => c.notNull())
    .addColumn('search_name', searchText, (c) => c.notNull())
    .addColumn('rendition_spec', 'text')
    .execute();
  // One index per way the table is read: filtered by state or not, in waiting order or by name,
  // and "starts with" on the name or the UPN.
  const indexes: Array<[string, string[]]> = [
    ['admin_user_status_state_since', ['state', 'since', 'user_id']],
    ['admin_user_status_state_name', ['state', 'search_name', 'user_id']],
    ['admin_user_status_since', ['since', 'user_id']],
    ['admin_user_status_name', ['search_name', 'user_id']],
    ['admin_user_status_upn', ['upn', 'user_id']],
  ];
  for (const [name, columns] of indexes) {
    await db.schema.createIndex(name).on('admin_user_status').columns(columns).execute();
  }

  await db.schema
    .createTable('admin_prompts')
    .addColumn('id', postgres ? 'bigserial' : 'integer', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('directory_users.id').onDelete('cascade'))
    .addColumn('prompted_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('mail_etag', 'text')
    .addColumn('emailed_at', 'bigint')
    .addColumn('email_error', 'text')
    .addColumn('resolved_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('admin_prompts_user_open')
    .on('admin_prompts')
    .columns(['user_id', 'resolved_at', 'created_at'])
    .execute();

  await db.schema
    .createTable('admin_audit')
    .addColumn('id', postgres ? 'bigserial' : 'integer', (c) => c.primaryKey())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('actor_id', 'text', (c) => c.notNull())
    .addColumn('actor_upn', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('detail', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('admin_audit_at').on('admin_audit').columns(['at', 'id']).execute();

  await db.schema
    .createTable('user_locales')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('directory_users.id').onDelete('cascade'))
    .addColumn('locale', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  if (postgres) {
    await sql
      .raw(
        `CREATE FUNCTION admin_refresh_status(target text) RETURNS void LANGUAGE sql AS $body$
${refreshStatement('u.id = target', true)}
$body$`,
      )
      .execute(db);
    await sql
      .raw(
        `CREATE FUNCTION admin_status_trigger() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  IF TG_TABLE_NAME = 'directory_users' THEN PERFORM admin_refresh_status(NEW.id);
  ELSIF TG_OP = 'DELETE' THEN PERFORM admin_refresh_status(OLD.user_id);
  ELSE PERFORM admin_refresh_status(NEW.user_id);
  END IF;
  RETURN NULL;
END
$body$`,
      )
      .execute(db);
  }
  for (const { table, events, key } of WATCHED) {
    for (const event of events) {
      const row = event === 'DELETE' ? 'OLD' : 'NEW';
      const when = ONLY_WHEN[`${table} ${event}`];
      const statement = postgres
        ? `CREATE TRIGGER ${triggerName(table, event)} AFTER ${event} ON ${table}
           FOR EACH ROW ${when?.postgres ?? ''} EXECUTE FUNCTION admin_status_trigger()`
        : `CREATE TRIGGER ${triggerName(table, event)} AFTER ${event} ON ${table} FOR EACH ROW ${when?.sqlite ?? ''}
           BEGIN ${refreshStatement(`u.id = ${row}.${key}`, false)}; END`;
      await sql.raw(statement).execute(db);
    }
  }
  // Users who exist already.
  await sql.raw(refreshStatement('true', postgres)).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  for (const { table, events } of WATCHED) {
    for (const event of events) {
      await sql.raw(`DROP TRIGGER IF EXISTS ${triggerName(table, event)}${postgres ? ` ON ${table}` : ''}`).execute(db);
    }
  }
  if (postgres) {
    await sql.raw('DROP FUNCTION IF EXISTS admin_status_trigger()').execute(db);
    await sql.raw('DROP FUNCTION IF EXISTS admin_refresh_status(text)').execute(db);
  }
  for (const table of ['user_locales', 'admin_audit', 'admin_prompts', 'admin_user_status', 'admin_settings']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
