import { PostgresAdapter, sql, type Kysely, type QueryCreator } from 'kysely';
import type { Database, Db } from '../storage/database.js';
import type { SyncStateTable } from './tables.js';

// Every sync attempt, kept per user, and the running state the back-off reads.

export const SYNC_TRIGGERS = ['photo_request', 'onedrive_tile', 'sharepoint_tile', 'prompt', 'admin'] as const;
export type SyncTrigger = (typeof SYNC_TRIGGERS)[number];

export const SYNC_OUTCOMES = [
  'synced',
  'removed',
  'unchanged',
  'no_photo',
  'no_mailbox',
  'recently_checked',
  'backing_off',
  'busy',
  'failed',
] as const;
export type SyncOutcome = (typeof SYNC_OUTCOMES)[number];

export interface SyncAttempt {
  userId: string;
  trigger: SyncTrigger;
  outcome: SyncOutcome;
  startedAt: number;
  durationMs: number;
  etagBefore: string | null;
  etagAfter: string | null;
  error: string | null;
}

export interface SyncState {
  lastAttemptAt: number;
  lastOutcome: SyncOutcome;
  failingSince: number | null;
  failedEtag: string | null;
  retryAfter: number | null;
  lastError: string | null;
}

// Read by every sync, so compiled once (see preparedQuery).
export function toSyncState(row: Omit<SyncStateTable, 'user_id'>): SyncState {
  return {
    lastAttemptAt: row.last_attempt_at,
    lastOutcome: row.last_outcome as SyncOutcome,
    failingSince: row.failing_since,
    failedEtag: row.failed_etag,
    retryAfter: row.retry_after,
    lastError: row.last_error,
  };
}

/** The "checked" time of a sync that found the sites in step, committed with its attempt. */
export interface CheckedMark {
  at: number;
  exchangeSyncState: 0 | 1;
}

/**
 * Appends the attempt, moves the user's sync state and, for an in-step check, the profile's
 * "checked" time, all in one commit. A failure starts (or continues) the back-off for the mail
 * photo that failed; a skip (recently checked, backing off, busy) leaves the failure as it was;
 * any other outcome ends it. The state moves without being read first.
 *
 * The record is history, not the picture: it is committed without waiting for a WAL flush. The
 * commit stays atomic; a power cut can lose the last fraction of a second of records, never a
 * picture (a sync's switch of renditions was committed and flushed before this). On PostgreSQL it
 * is one statement, so an in-step check costs one round trip here instead of six; SQLite (WAL,
 * synchronous=NORMAL) never flushes per commit, and its statements cost no round trips.
 */
export async function recordAttempt(
  db: Kysely<Database>,
  attempt: SyncAttempt,
  failedEtag: string | null,
  backoffMs: number,
  checked?: CheckedMark,
): Promise<number> {
  const skipped = ['recently_checked', 'backing_off', 'busy'].includes(attempt.outcome);
  const failed = attempt.outcome === 'failed';
  const latest = { last_attempt_at: attempt.startedAt, last_outcome: attempt.outcome };
  const failure = failed
    ? {
        failing_since: attempt.startedAt,
        failed_etag: failedEtag,
        retry_after: attempt.startedAt + backoffMs,
        last_error: attempt.error,
      }
    : { failing_since: null, failed_etag: null, retry_after: null, last_error: null };
  const insertAttempt = (q: QueryCreator<Database>) =>
    q
      .insertInto('sync_attempts')
      .values({
        user_id: attempt.userId,
        trigger: attempt.trigger,
        outcome: attempt.outcome,
        started_at: attempt.startedAt,
        duration_ms: attempt.durationMs,
        etag_before: attempt.etagBefore,
        etag_after: attempt.etagAfter,
        error: attempt.error,
      })
      .returning('id');
  const moveState = (q: QueryCreator<Database>) =>
    q
      .insertInto('sync_state')
      .values({ user_id: attempt.userId, ...latest, ...failure })
      .onConflict((oc) =>
        oc.column('user_id').doUpdateSet((eb) =>
          skipped
            ? latest
            : failed
              ? {
                  ...latest,
                  ...failure,
                  failing_since: eb.fn.coalesce(eb.ref('sync_state.failing_since'), eb.ref('excluded.failing_since')),
                }
              : { ...latest, ...failure },
        ),
      );
  // An in-step profile exists (it was read), so marking it is an update.
  const markChecked = (q: QueryCreator<Database>) =>
    q
      .updateTable('site_profiles')
      .set({ last_checked_at: checked?.at ?? null, exchange_sync_state: checked?.exchangeSyncState ?? 0 })
      .where('user_id', '=', attempt.userId);

  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    // set_config(..., true) is SET LOCAL: it holds until this statement's own commit.
    // Each part is written against the plain schema; the names the statement's earlier parts add
    // are not used by the later ones.
    const plain = (q: unknown) => q as QueryCreator<Database>;
    const writes = db
      .with('relaxed', (q) => q.selectNoFrom(sql<string>`set_config('synchronous_commit', 'off', true)`.as('value')))
      .with('attempt', (q) => insertAttempt(plain(q)))
      .with('state', (q) => moveState(plain(q)));
    const row = checked
      ? await writes
          .with('checked', (q) => markChecked(plain(q)))
          .selectFrom(['attempt', 'relaxed'])
          .select('attempt.id')
          .executeTakeFirstOrThrow()
      : await writes.selectFrom(['attempt', 'relaxed']).select('attempt.id').executeTakeFirstOrThrow();
    return Number(row.id);
  }
  return db.transaction().execute(async (trx) => {
    if (checked) await markChecked(trx).execute();
    const inserted = await insertAttempt(trx).executeTakeFirstOrThrow();
    await moveState(trx).execute();
    return Number(inserted.id);
  });
}

export interface HistoryEntry extends SyncAttempt {
  id: number;
}

export async function listAttempts(db: Db, userId: string, limit = 100): Promise<HistoryEntry[]> {
  const rows = await db
    .selectFrom('sync_attempts')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('started_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: Number(r.id),
    userId: r.user_id,
    trigger: r.trigger as SyncTrigger,
    outcome: r.outcome as SyncOutcome,
    startedAt: r.started_at,
    durationMs: r.duration_ms,
    etagBefore: r.etag_before,
    etagAfter: r.etag_after,
    error: r.error,
  }));
}
