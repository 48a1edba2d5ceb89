import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// An attempt is recorded after the user's lock is let go, so two attempts of one user can be
// recorded in the other order than they started: a failure recorded after a later success set the
// running failure again while the sites were in step. `settled_at` is when the attempt that last
// decided the running failure (started it, continued it or ended it: any outcome but a skip)
// started; an attempt older than that leaves the failure as it is. Rows from before: the time of
// their last attempt when it was not a skip, else the start of their running failure (a lower
// bound), else none (the next attempt decides, as before).

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sync_state').addColumn('settled_at', 'bigint').execute();
  await sql`UPDATE sync_state SET settled_at = CASE
      WHEN last_outcome NOT IN ('recently_checked', 'backing_off', 'busy') THEN last_attempt_at
      ELSE failing_since END`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sync_state').dropColumn('settled_at').execute();
}
