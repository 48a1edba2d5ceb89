import { PostgresAdapter, sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// PostgreSQL's GIN indexes take new entries into a pending list first (up to 4 MB by default) and
// merge them later; every search reads that list from start to end. The trigram indexes of the
// users and tenant searches get new entries at every change of a user's state, so after a large
// import, or between vacuums, a search of 100,000 users spent most of its time there (measured:
// 9–10 ms with 2,300 entries pending against 1.4 ms merged). A 64 kB list keeps that read small and
// still merges in batches (a 100,000-row insert took 1.9 s, against 2.4 s with the default and
// 10.5 s with no list at all). What is pending now is merged here. SQLite has no such list.

const INDEXES = [
  'admin_user_status_search_name_trgm',
  'admin_user_status_upn_trgm',
  'm365_users_display_name_trgm',
  'm365_users_upn_trgm',
];

export async function up(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  for (const index of INDEXES) {
    await sql.raw(`ALTER INDEX ${index} SET (gin_pending_list_limit = 64)`).execute(db);
    await sql`SELECT gin_clean_pending_list(${index}::regclass)`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  for (const index of INDEXES) await sql.raw(`ALTER INDEX ${index} RESET (gin_pending_list_limit)`).execute(db);
}
