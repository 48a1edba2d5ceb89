import type { Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// What a scan could not do, beside what it did: the users it could not read (they keep the state
// an earlier scan found, and the next scan reads them again), and how often and how long the
// tenant throttled it. The console's "Last scan" says both. Scans before have none of either.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('m365_scans')
    .addColumn('users_unread', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('m365_scans')
    .addColumn('throttled_waits', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('m365_scans')
    .addColumn('throttled_ms', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const column of ['throttled_ms', 'throttled_waits', 'users_unread']) {
    await db.schema.alterTable('m365_scans').dropColumn(column).execute();
  }
}
