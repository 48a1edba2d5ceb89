import { PostgresAdapter, sql, type Kysely, type QueryCreator, type Selectable } from 'kysely';
import type { SwitchRecord } from '../sites/profiles.js';
import type { Database, Db } from '../storage/database.js';
import type { SyncAttemptsTable, SyncStateTable } from './tables.js';

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
export function toSyncState(row: Omit<SyncStateTable, 'user_id' | 'settled_at'>): SyncState {
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
 * Checks that changed nothing, gathered into one record: how many, and when the first started
 * (`startedAt` of the attempt recorded is the last's).
 */
export interface RepeatedChecks {
  checks: number;
  firstStartedAt: number;
}

/** The "checked" time of a sync that found the sites in step, committed with its attempt. */
export interface CheckedMark {
  at: number;
  exchangeSyncState: 0 | 1;
}

/**
 * Outcomes that changed something or went wrong: each keeps a row of its own. Any other outcome
 * changed nothing, and when it repeats an attempt made since the last of these (same trigger,
 * outcome and ETags) it is counted on that attempt's row instead (`checks`, `last_at`), so a
 * photo viewed a million times in step is one row, not a million.
 */
export const KEPT_OUTCOMES = ['synced', 'removed', 'failed', 'busy'] as const satisfies readonly SyncOutcome[];

export const isKept = (outcome: SyncOutcome) => (KEPT_OUTCOMES as readonly SyncOutcome[]).includes(outcome);

/**
 * The row a repeated check is counted on: the newest of the user's attempts with the same trigger,
 * outcome and ETags made after the last one that changed something or failed. The user's rows
 * since that one are few (one per kind of check), read newest first through (user_id, id).
 */
function repeatedRow(q: QueryCreator<Database>, attempt: SyncAttempt) {
  return q
    .selectFrom('sync_attempts')
    .select('id')
    .where('user_id', '=', attempt.userId)
    .where('trigger', '=', attempt.trigger)
    .where('outcome', '=', attempt.outcome)
    .where('etag_before', 'is not distinct from', attempt.etagBefore)
    .where('etag_after', 'is not distinct from', attempt.etagAfter)
    .where('id', '>', (eb) =>
      eb
        .selectFrom('sync_attempts as kept')
        .select((k) => k.fn.coalesce(k.fn.max('kept.id'), sql<number>`0`).as('id'))
        .where('kept.user_id', '=', attempt.userId)
        .where('kept.outcome', 'in', KEPT_OUTCOMES),
    )
    .orderBy('id', 'desc')
    .limit(1);
}

/** An attempt as its row in the history; `repeats`: the checks alike it stands for. */
function attemptRow(attempt: SyncAttempt, repeats?: RepeatedChecks) {
  return {
    user_id: attempt.userId,
    trigger: attempt.trigger,
    outcome: attempt.outcome,
    started_at: repeats?.firstStartedAt ?? attempt.startedAt,
    last_at: attempt.startedAt,
    duration_ms: attempt.durationMs,
    etag_before: attempt.etagBefore,
    etag_after: attempt.etagAfter,
    error: attempt.error,
  };
}

/**
 * Moves the user's sync state for an attempt. Attempts are recorded after the lock is let go, so
 * in any order: the latest attempt to start is the one shown, and the running failure is decided
 * by the latest to start of those that decide it (every outcome but a skip), whatever order they
 * are recorded in. Both comparisons are made against the row as it is when the statement writes it.
 */
function moveSyncState(q: QueryCreator<Database>, attempt: SyncAttempt, failedEtag: string | null, backoffMs: number) {
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
  return q
    .insertInto('sync_state')
    .values({ user_id: attempt.userId, ...latest, ...failure, settled_at: skipped ? null : attempt.startedAt })
    .onConflict((oc) =>
      oc.column('user_id').doUpdateSet((eb) => {
        const isLatest = sql<boolean>`${eb.ref('excluded.last_attempt_at')} >= ${eb.ref('sync_state.last_attempt_at')}`;
        const latestOnly = {
          last_attempt_at: sql<number>`case when ${isLatest} then ${eb.ref('excluded.last_attempt_at')} else ${eb.ref('sync_state.last_attempt_at')} end`,
          last_outcome: sql<string>`case when ${isLatest} then ${eb.ref('excluded.last_outcome')} else ${eb.ref('sync_state.last_outcome')} end`,
        };
        if (skipped) return latestOnly;
        const settles = sql<boolean>`(${eb.ref('sync_state.settled_at')} is null or ${eb.ref('excluded.settled_at')} >= ${eb.ref('sync_state.settled_at')})`;
        const settled = <C extends 'failing_since' | 'failed_etag' | 'retry_after' | 'last_error' | 'settled_at'>(
          column: C,
          value: unknown,
        ) => sql<SyncStateTable[C]>`case when ${settles} then ${value} else ${eb.ref(`sync_state.${column}`)} end`;
        return {
          ...latestOnly,
          // A failure continues the running one of the same photo (its start is kept); a failure of
          // another photo starts anew, as the state counts it for its photo; any other outcome ends it.
          failing_since: settled(
            'failing_since',
            failed
              ? sql`case when ${eb.ref('sync_state.failed_etag')} = ${eb.ref('excluded.failed_etag')}
                  or (${eb.ref('sync_state.failed_etag')} is null and ${eb.ref('excluded.failed_etag')} is null)
                  then ${eb.fn.coalesce(eb.ref('sync_state.failing_since'), eb.ref('excluded.failing_since'))}
                  else ${eb.ref('excluded.failing_since')} end`
              : eb.ref('excluded.failing_since'),
          ),
          failed_etag: settled('failed_etag', eb.ref('excluded.failed_etag')),
          retry_after: settled('retry_after', eb.ref('excluded.retry_after')),
          last_error: settled('last_error', eb.ref('excluded.last_error')),
          settled_at: settled('settled_at', eb.ref('excluded.settled_at')),
        };
      }),
    );
}

/**
 * The record of an attempt that switched the sites' pictures (`synced`), written in the switch's
 * commit: the history never lacks a switch that was made, nor holds one that was not, and on
 * PostgreSQL the record costs no round trip of its own. Its duration is read as it is written:
 * the sync's work up to its commit, as every attempt's duration runs up to what it decided being
 * written. `durationMs` reports the value written. `also` is written in the same commit (an
 * operator's audit entry); with it, the switch is a transaction of its own rather than one statement.
 */
export function recordWithSwitch(
  attempt: Omit<SyncAttempt, 'durationMs'>,
  failedEtag: string | null,
  backoffMs: number,
  durationMs: () => number,
  also?: (trx: Db) => Promise<unknown>,
): SwitchRecord & { durationMs?: number } {
  const timed = () => ({ ...attempt, durationMs: (record.durationMs = durationMs()) });
  const record: SwitchRecord & { durationMs?: number } = {
    async write(trx) {
      const row = timed();
      await trx.insertInto('sync_attempts').values(attemptRow(row)).execute();
      await moveSyncState(trx, row, failedEtag, backoffMs).execute();
      await also?.(trx);
    },
    // Parts of one statement cannot hold `also`, a write of its own.
    ...(also
      ? {}
      : {
          parts() {
            const row = timed();
            return [
              { name: 'attempt', query: (q) => q.insertInto('sync_attempts').values(attemptRow(row)) },
              { name: 'attempt_state', query: (q) => moveSyncState(q, row, failedEtag, backoffMs) },
            ];
          },
        }),
  };
  return record;
}

/**
 * Records the attempt (a row of its own, or one more check on the row it repeats), moves the
 * user's sync state and, for an in-step check, the profile's "checked" time, all in one commit. A
 * failure starts (or continues) the back-off for the mail photo that failed; a skip (recently
 * checked, backing off, busy) leaves the failure as it was; any other outcome ends it. The state
 * moves without being read first, and in the order the attempts started, not the order they are
 * recorded in (`settled_at`): an attempt that started before the one shown leaves it shown.
 * `repeats`: the record stands for that many checks alike, gathered (the first started then).
 *
 * The record is history, not the picture: it is committed without waiting for a WAL flush. The
 * commit stays atomic; a power cut can lose the last fraction of a second of records, never a
 * picture (a sync's switch of renditions was committed and flushed before this). On PostgreSQL it
 * is one statement, so an in-step check costs one round trip here instead of six; SQLite (WAL,
 * synchronous=NORMAL) never flushes per commit, and its statements cost no round trips.
 *
 * `also` (an operator's audit entry) is written in the same commit; that commit is a transaction,
 * waiting for its flush as any other, on both databases.
 */
export async function recordAttempt(
  db: Kysely<Database>,
  attempt: SyncAttempt,
  failedEtag: string | null,
  backoffMs: number,
  checked?: CheckedMark,
  repeats?: RepeatedChecks,
  also?: (trx: Db) => Promise<unknown>,
): Promise<number> {
  const checks = repeats?.checks ?? 1;
  const foldable = !isKept(attempt.outcome);
  const row = attemptRow(attempt, repeats);
  // One more check on the row it repeats; the duration shown is the latest one's.
  const countRepeat = (q: QueryCreator<Database>) =>
    q
      .updateTable('sync_attempts')
      .set((eb) => ({
        checks: eb('checks', '+', checks),
        // Attempts may finish out of order: the row keeps the latest start.
        last_at: sql<number>`case when ${eb.ref('last_at')} > ${attempt.startedAt} then ${eb.ref('last_at')} else ${attempt.startedAt} end`,
        duration_ms: attempt.durationMs,
      }))
      .where('id', '=', (eb) => repeatedRow(eb as unknown as QueryCreator<Database>, attempt))
      .returning('id');
  const moveState = (q: QueryCreator<Database>) => moveSyncState(q, attempt, failedEtag, backoffMs);
  // An in-step profile exists (it was read), so marking it is an update. The "checked" time only
  // moves forward: checks written late (gathered) never undo a later sync's or check's time.
  const checkedAt = checked?.at ?? null;
  const markChecked = (q: QueryCreator<Database>) =>
    q
      .updateTable('site_profiles')
      .set((eb) => ({
        last_checked_at: sql<number>`case when ${eb.ref('last_checked_at')} > ${checkedAt} then ${eb.ref('last_checked_at')} else ${checkedAt} end`,
        exchange_sync_state: checked?.exchangeSyncState ?? 0,
      }))
      .where('user_id', '=', attempt.userId);

  if (!also && db.getExecutor().adapter instanceof PostgresAdapter) {
    // set_config(..., true) is SET LOCAL: it holds until this statement's own commit.
    // Each part is written against the plain schema; the names the statement's earlier parts add
    // are not used by the later ones. A repeat is counted when its row is found, otherwise the
    // attempt is inserted (INSERT … SELECT … WHERE NOT EXISTS, its values cast as SELECT needs).
    const plain = (q: unknown) => q as QueryCreator<Database>;
    const insertAttempt = (q: QueryCreator<Database>, unlessCounted: boolean) => {
      const values = q.selectNoFrom([
        sql<string>`${row.user_id}::text`.as('user_id'),
        sql<string>`${row.trigger}::text`.as('trigger'),
        sql<string>`${row.outcome}::text`.as('outcome'),
        sql<number>`${row.started_at}::bigint`.as('started_at'),
        sql<number>`${row.last_at}::bigint`.as('last_at'),
        sql<number>`${row.duration_ms}::real`.as('duration_ms'),
        sql<string | null>`${row.etag_before}::text`.as('etag_before'),
        sql<string | null>`${row.etag_after}::text`.as('etag_after'),
        sql<string | null>`${row.error}::text`.as('error'),
        sql<number>`${checks}::integer`.as('checks'),
      ]);
      return q
        .insertInto('sync_attempts')
        .columns([
          'user_id',
          'trigger',
          'outcome',
          'started_at',
          'last_at',
          'duration_ms',
          'etag_before',
          'etag_after',
          'error',
          'checks',
        ])
        .expression(unlessCounted ? values.where(sql<boolean>`not exists (select 1 from counted)`) : values)
        .returning('id');
    };
    const attemptIds = foldable
      ? sql<{ id: number }>`(select id from counted union all select id from inserted)`
      : sql<{ id: number }>`(select id from inserted)`;
    const writes = db
      .with('relaxed', (q) => q.selectNoFrom(sql<string>`set_config('synchronous_commit', 'off', true)`.as('value')))
      .with('counted', (q) =>
        foldable
          ? countRepeat(plain(q))
          : plain(q)
              .selectNoFrom(sql<number>`0`.as('id'))
              .where(sql<boolean>`false`),
      )
      .with('inserted', (q) => insertAttempt(plain(q), foldable))
      .with('state', (q) => moveState(plain(q)));
    // Without an in-step mark the profile is left alone (the update matches no row).
    const written = await writes
      .with('checked', (q) => (checked ? markChecked(plain(q)) : markChecked(plain(q)).where(sql<boolean>`false`)))
      .selectFrom([attemptIds.as('attempt'), 'relaxed'])
      .select('attempt.id')
      .executeTakeFirstOrThrow();
    return Number(written.id);
  }
  return db.transaction().execute(async (trx) => {
    if (checked) await markChecked(trx).execute();
    const counted = foldable ? await countRepeat(trx).executeTakeFirst() : undefined;
    const id =
      counted?.id ??
      (
        await trx
          .insertInto('sync_attempts')
          .values({ ...row, checks })
          .returning('id')
          .executeTakeFirstOrThrow()
      ).id;
    await moveState(trx).execute();
    await also?.(trx);
    return Number(id);
  });
}

export interface HistoryEntry extends SyncAttempt {
  id: number;
  /** How many times this attempt was made (repeated checks that changed nothing share a row). */
  checks: number;
  /** When the last of them started. */
  lastAt: number;
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
  return rows.map((r) => historyEntryOf(r, { checks: r.checks, lastAt: Number(r.last_at) }));
}

/** How many attempts of a user's are kept (the history's retention decides how long). */
export async function countAttempts(db: Db, userId: string): Promise<number> {
  const row = await db
    .selectFrom('sync_attempts')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** The columns every history of attempts has (photosync's own, and connect mode's pushes). */
export type AttemptRow = Omit<Selectable<SyncAttemptsTable>, 'checks' | 'last_at'>;

/** One row of a history as an entry; a history without counts has one attempt per row. */
export function historyEntryOf(r: AttemptRow, counted?: { checks: number; lastAt: number }): HistoryEntry {
  return {
    id: Number(r.id),
    userId: r.user_id,
    trigger: r.trigger as SyncTrigger,
    outcome: r.outcome as SyncOutcome,
    startedAt: r.started_at,
    durationMs: r.duration_ms,
    etagBefore: r.etag_before,
    etagAfter: r.etag_after,
    error: r.error,
    checks: counted?.checks ?? 1,
    lastAt: counted?.lastAt ?? r.started_at,
  };
}

/** How many attempts a user's history holds, counting each repeated check. */
export const attemptCount = (history: readonly HistoryEntry[]) => history.reduce((n, a) => n + a.checks, 0);
