import { PostgresAdapter, sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// PostgreSQL: take a user's advisory lock and read what a sync decides from, in one round trip.
// The read must see every commit made before the lock was taken: a plain statement reads from the
// snapshot taken when it started, before any function in it ran, so a sync committed (and its
// lock released) in between would be missed and rendered a second time. A VOLATILE function takes
// a fresh snapshot for each query it runs, after the lock is held. The query is the caller's own
// (compiled by the application, one text parameter), so this function knows no table; the rows
// come back as one JSON array. NULL when another session holds the lock: the caller waits.

export async function up(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`
    CREATE FUNCTION photosync_locked_read(lock_key text, query text, parameter text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
      result jsonb;
    BEGIN
      IF NOT pg_try_advisory_lock(hashtextextended(lock_key, 0)) THEN
        RETURN NULL;
      END IF;
      EXECUTE 'SELECT coalesce(jsonb_agg(to_jsonb(q)), ''[]''::jsonb) FROM (' || query || ') q'
        INTO result USING parameter;
      RETURN result;
    END
    $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`DROP FUNCTION photosync_locked_read(text, text, text)`.execute(db);
}
