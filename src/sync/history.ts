import { PostgresAdapter, sql, type Kysely, type Transaction } from 'kysely';
import type { Database, Db } from '../storage/database.js';
import type { SyncStateTable } from './tables.js';
import { preparedQuery } from '../storage/prepared.js';

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
const syncStateRow = preparedQuery(1, (db, userId: string) =>
  db
    .selectFrom('sync_state')
    .select(['last_attempt_at', 'last_outcome', 'failing_since', 'failed_etag', 'retry_after', 'last_error'])
    .where('user_id', '=', userId),
);

export async function getSyncState(db: Db, userId: string): Promise<SyncState | undefined> {
  const [row] = await syncStateRow(db, userId);
  return row && toSyncState(row);
}

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

/**
 * Appends the attempt and moves the user's sync state in one transaction (with `alsoInTransaction`). A failure starts (or
 * continues) the back-off for the mail photo that failed; any other real outcome ends it. Skips
 * (recently checked, backing off) leave the failure state as it is.
 */
export async function recordAttempt(
  db: Kysely<Database>,
  attempt: SyncAttempt,
  failedEtag: string | null,
  backoffMs: number,
  /** More writes that belong to the same commit (the sync's "checked" time). */
  alsoInTransaction?: (trx: Transaction<Database>) => Promise<void>,
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    // The record of an attempt is history, not the picture: on PostgreSQL it is committed without
    // waiting for the WAL flush, which is most of an unchanged check's time there. The commit stays
    // atomic; a power cut can lose the last fraction of a second of records (the renditions a sync
    // switched were committed, and flushed, before this). SQLite (WAL, synchronous=NORMAL) never
    // flushes per commit anyway.
    if (trx.getExecutor().adapter instanceof PostgresAdapter) {
      await sql`set local synchronous_commit = off`.execute(trx);
    }
    await alsoInTransaction?.(trx);
    const inserted = await trx
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
      .returning('id')
      .executeTakeFirstOrThrow();

    // The running state moves without reading it first: a failure keeps the time the failing
    // began, a skip (recently checked, backing off, busy) leaves the failure as it was, and any
    // other outcome ends it.
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
    await trx
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
      )
      .execute();
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
