import { PostgresAdapter, sql, type Kysely } from 'kysely';
import {
  refreshStatement as previousRefreshStatement,
  SQLITE_TRIGGERS as PREVIOUS_SQLITE_TRIGGERS,
} from './2026-11-30-01-in-step-before-failing.js';

// Frozen in time: this migration never imports application types.
//
// "Failing" stayed after the user's mail photo changed, until the next attempt: the failure was of
// the photo before. A running failure now counts only for the photo it failed on (sync_state's
// failed_etag; a failure before the photo was read, with none, counts for any), so a new photo
// waits for the user's action as "changed since last sync". The SQL twin of `failsOnPhoto` in
// src/sync/state.ts (test/sync-state.test.ts proves they agree); the status triggers are rebuilt
// on it, the sync_state trigger also fires when the failed photo changes, and every row is
// recomputed.

const BEFORE = 'WHEN s.failing_since IS NOT NULL THEN';
const NOW = 'WHEN s.failing_since IS NOT NULL AND (s.failed_etag IS NULL OR s.failed_etag = m.etag) THEN';

/** The statement of 2026-11-30-01 with the failure counted only for its photo (the state and its since time). */
export function refreshStatement(where: string, postgres: boolean): string {
  const before = previousRefreshStatement(where, postgres);
  if (before.split(BEFORE).length !== 3) throw new Error('2026-12-21-02: the statement it changes is not as expected');
  return before.replaceAll(BEFORE, NOW);
}

const SYNC_STATE_UPDATE = 'admin_status_sync_state_update';
const TRIGGER_OF = {
  now: {
    on: 'UPDATE OF failing_since, failed_etag ON sync_state',
    sqlite: 'WHEN OLD.failing_since IS NOT NEW.failing_since OR OLD.failed_etag IS NOT NEW.failed_etag',
    postgres:
      'WHEN (OLD.failing_since IS DISTINCT FROM NEW.failing_since OR OLD.failed_etag IS DISTINCT FROM NEW.failed_etag)',
  },
  before: {
    on: 'UPDATE OF failing_since ON sync_state',
    sqlite: 'WHEN OLD.failing_since IS NOT NEW.failing_since',
    postgres: 'WHEN (OLD.failing_since IS DISTINCT FROM NEW.failing_since)',
  },
} as const;

async function install(db: Kysely<any>, version: 'now' | 'before'): Promise<void> {
  const statement = version === 'now' ? refreshStatement : previousRefreshStatement;
  const trigger = TRIGGER_OF[version];
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    // PL/pgSQL, planned once per connection (2026-12-20-02).
    await sql
      .raw(
        `CREATE OR REPLACE FUNCTION admin_refresh_status(target text) RETURNS void LANGUAGE plpgsql AS $body$
BEGIN
${statement('u.id = target', true)};
END
$body$`,
      )
      .execute(db);
    await sql.raw(`DROP TRIGGER IF EXISTS ${SYNC_STATE_UPDATE} ON sync_state`).execute(db);
    await sql
      .raw(
        `CREATE TRIGGER ${SYNC_STATE_UPDATE} AFTER ${trigger.on}
         FOR EACH ROW ${trigger.postgres} EXECUTE FUNCTION admin_status_trigger()`,
      )
      .execute(db);
    await sql.raw(statement('true', true)).execute(db);
    return;
  }
  for (const previous of PREVIOUS_SQLITE_TRIGGERS) {
    const changed = previous.name === SYNC_STATE_UPDATE;
    const on = changed ? trigger.on : previous.on;
    const when = changed ? trigger.sqlite : 'when' in previous ? previous.when : '';
    await sql.raw(`DROP TRIGGER IF EXISTS ${previous.name}`).execute(db);
    await sql
      .raw(
        `CREATE TRIGGER ${previous.name} AFTER ${on} FOR EACH ROW ${when}
         BEGIN ${statement(`u.id = ${previous.key}`, false)}; END`,
      )
      .execute(db);
  }
  await sql.raw(statement('true', false)).execute(db);
}

export async function up(db: Kysely<any>): Promise<void> {
  await install(db, 'now');
}

export async function down(db: Kysely<any>): Promise<void> {
  await install(db, 'before');
}
