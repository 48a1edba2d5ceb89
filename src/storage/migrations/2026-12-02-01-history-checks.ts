import { type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// Sync history that does not grow with every photo view: an attempt that changed nothing and
// repeats the one before it (same trigger, outcome and ETags, no change or failure between) is
// counted on that row instead of getting its own. `checks` is how many times it was made and
// `last_at` when the last of them started; the retention purge reads `last_at`.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('sync_attempts')
    .addColumn('checks', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema
    .alterTable('sync_attempts')
    .addColumn('last_at', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db
    .updateTable('sync_attempts')
    .set((eb) => ({ last_at: eb.ref('started_at') }))
    .execute();
  // The newest rows of a user, where a repeated check looks for the row to count it on.
  await db.schema.createIndex('sync_attempts_user_id').on('sync_attempts').columns(['user_id', 'id']).execute();
  await db.schema.createIndex('sync_attempts_last_at').on('sync_attempts').column('last_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('sync_attempts_last_at').execute();
  await db.schema.dropIndex('sync_attempts_user_id').execute();
  await db.schema.alterTable('sync_attempts').dropColumn('last_at').execute();
  await db.schema.alterTable('sync_attempts').dropColumn('checks').execute();
}
