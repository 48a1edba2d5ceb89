import { PostgresAdapter, sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// PostgreSQL: what a sync decides from, and the user's advisory lock when it will need it, in one
// round trip. Like photosync_locked_read (2026-12-07-01), the query is the caller's own and this
// function knows no table; the query takes two parameters: the user (text) and whether the lock is
// held (boolean), so what is needed only for the work (the kept renditions' bytes) is read only
// under it. Each EXECUTE of a VOLATILE function takes a fresh snapshot, so the read after the lock
// sees every commit made before it was taken.
//
// With lock_first, the lock is taken before anything is read. Without it, the rows are read
// first, and the lock taken only when the first row's `needs_lock` is true (the sites look out of
// step): an in-step check takes no lock and holds nothing. The answer is
// {"locked": true | false | null, "rows": [...]}: true, the lock is held and the rows were read
// under it; false, no lock was wanted; null, another session holds it (the caller waits for it and
// reads again).

export async function up(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`
    CREATE FUNCTION photosync_sync_read(lock_key text, query text, parameter text, lock_first boolean)
    RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
      result jsonb;
      wrapped text := 'SELECT coalesce(jsonb_agg(to_jsonb(q)), ''[]''::jsonb) FROM (' || query || ') q';
    BEGIN
      IF NOT lock_first THEN
        EXECUTE wrapped INTO result USING parameter, false;
        IF NOT coalesce((result -> 0 ->> 'needs_lock')::boolean, false) THEN
          RETURN jsonb_build_object('locked', false, 'rows', result);
        END IF;
      END IF;
      IF NOT pg_try_advisory_lock(hashtextextended(lock_key, 0)) THEN
        RETURN jsonb_build_object('locked', NULL, 'rows', coalesce(result, '[]'::jsonb));
      END IF;
      EXECUTE wrapped INTO result USING parameter, true;
      RETURN jsonb_build_object('locked', true, 'rows', result);
    END
    $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`DROP FUNCTION photosync_sync_read(text, text, text, boolean)`.execute(db);
}
