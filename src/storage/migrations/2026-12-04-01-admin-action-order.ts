import { PostgresAdapter, sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// The admin users table lists first the people a request to sync can help (out of step: changed,
// never synced, failing), longest waiting first. `action_rank` is 0 for them and 1 for everyone
// else, computed by the database from `state`, so the triggers that keep the row current need no
// change; an index on (action_rank, since, user_id) serves the sort and its keyset pagination.

const RANK = `CASE WHEN state IN ('changed', 'never_synced', 'failing') THEN 0 ELSE 1 END`;

export async function up(db: Kysely<any>): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  // SQLite may add only a virtual generated column to a table; PostgreSQL stores its own.
  const kind = postgres ? 'STORED' : 'VIRTUAL';
  await sql
    .raw(`ALTER TABLE admin_user_status ADD COLUMN action_rank integer GENERATED ALWAYS AS (${RANK}) ${kind}`)
    .execute(db);
  await db.schema
    .createIndex('admin_user_status_action')
    .on('admin_user_status')
    .columns(['action_rank', 'since', 'user_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('admin_user_status_action').ifExists().execute();
  await db.schema.alterTable('admin_user_status').dropColumn('action_rank').execute();
}
