import { PostgresAdapter, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
// Connect mode: the users of a Microsoft 365 tenant as photosync last saw them, the scans that
// read them (with the cursor a scan resumes from) and the history of pushes into the tenant's
// SharePoint. Tenant users are not directory users (the tenant's Entra ID is their directory),
// so they have their own table and their own history, keyed by the tenant's object id.

export async function up(db: Kysely<any>): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;

  await db.schema
    .createTable('m365_users')
    /** Entra object id (Graph `id`). */
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('upn', 'text', (c) => c.notNull())
    .addColumn('display_name', 'text', (c) => c.notNull())
    /** 1 = has an Exchange Online mailbox, 0 = none, NULL = the tenant did not say. */
    .addColumn('has_mailbox', 'integer')
    .addColumn('account_enabled', 'integer', (c) => c.notNull().defaultTo(1))
    /** The last scan that listed the user; a finished scan marks everyone else gone. */
    .addColumn('seen_scan_id', 'text')
    .addColumn('gone_at', 'bigint')
    .addColumn('state', 'text')
    .addColumn('state_reason', 'text')
    .addColumn('state_at', 'bigint')
    /** What the last scan read: the Exchange photo's ETag ('' = no photo) and the profile's picture. */
    .addColumn('exchange_etag', 'text')
    .addColumn('profile_fingerprint', 'text')
    .addColumn('picture_timestamp', 'text')
    .addColumn('picture_url', 'text')
    /**
     * The baseline: an Exchange ETag and a profile fingerprint known to be in step (photosync
     * pushed that photo, or compared the pictures) or known to differ. Same two again → the same
     * verdict without reading a byte of either picture.
     */
    .addColumn('baseline_etag', 'text')
    .addColumn('baseline_profile', 'text')
    .addColumn('baseline_verdict', 'text')
    .addColumn('baseline_source', 'text')
    .addColumn('baseline_at', 'bigint')
    /** Pushes: the latest attempt and the running failure, as sync_state keeps them for directory users. */
    .addColumn('last_attempt_at', 'bigint')
    .addColumn('last_outcome', 'text')
    .addColumn('failing_since', 'bigint')
    .addColumn('failed_etag', 'text')
    .addColumn('last_error', 'text')
    .execute();
  await db.schema.createIndex('m365_users_upn').on('m365_users').column('upn').execute();
  await db.schema.createIndex('m365_users_state_upn').on('m365_users').columns(['state', 'upn']).execute();
  await db.schema.createIndex('m365_users_seen_scan').on('m365_users').column('seen_scan_id').execute();

  await db.schema
    .createTable('m365_scans')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('finished_at', 'bigint')
    /** running | done | failed */
    .addColumn('status', 'text', (c) => c.notNull())
    /** The Graph URL of the page being worked on; NULL = the first page. */
    .addColumn('page_link', 'text')
    .addColumn('pages_done', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('users_done', 'integer', (c) => c.notNull().defaultTo(0))
    /** The tenant's user count when the scan began (for a progress bar); NULL = unknown. */
    .addColumn('users_total', 'integer')
    .addColumn('graph_requests', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('image_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text')
    /** Who works on it now; a lease that ran out belongs to a process that stopped. */
    .addColumn('holder', 'text')
    .addColumn('lease_until', 'bigint')
    .execute();
  await db.schema.createIndex('m365_scans_status_started').on('m365_scans').columns(['status', 'started_at']).execute();
  // At most one unfinished scan: two processes starting one at the same moment cannot both win.
  await db.schema
    .createIndex('m365_scans_one_running')
    .unique()
    .on('m365_scans')
    .column('status')
    .where('status', '=', 'running')
    .execute();

  await db.schema
    .createTable('m365_push_attempts')
    .addColumn('id', postgres ? 'bigserial' : 'integer', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('m365_users.id').onDelete('cascade'))
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('duration_ms', 'real', (c) => c.notNull())
    .addColumn('etag_before', 'text')
    .addColumn('etag_after', 'text')
    .addColumn('error', 'text')
    .execute();
  await db.schema
    .createIndex('m365_push_attempts_user_started')
    .on('m365_push_attempts')
    .columns(['user_id', 'started_at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('m365_push_attempts').ifExists().execute();
  await db.schema.dropTable('m365_scans').ifExists().execute();
  await db.schema.dropTable('m365_users').ifExists().execute();
}
