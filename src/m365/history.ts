import type { Kysely } from 'kysely';
import type { Database, Db } from '../storage/database.js';
import { historyEntryOf, type HistoryEntry, type SyncAttempt } from '../sync/history.js';
import type { Baseline, TenantReason, TenantState } from './model.js';
import { pictureFileStem } from './sharepoint.js';

// The history of pushes into the tenant's SharePoint, one row per attempt, in the same shape and
// with the same triggers and outcomes as photosync's own sync history (src/sync/history.ts):
// that history's rows belong to directory users, tenant users are not directory users, so theirs
// is kept here (m365_push_attempts), keyed by the tenant's object id.

/** An attempt, with `userId` the tenant's object id. */
export type PushAttempt = SyncAttempt;

/** Where a push that succeeded left the user. */
export interface PushResult {
  state: TenantState;
  code: TenantReason;
  reason: string;
  /** The Exchange ETag pushed with the profile picture it became; absent for a removal. */
  baseline?: Baseline;
  /** The PictureURL the push left (with the name of the files it wrote). */
  pictureUrl?: string;
}

/**
 * Appends the attempt and moves the user's running state in one commit: a failure starts (or
 * continues) it, anything else ends it; a push that succeeded leaves its state and baseline.
 * `answer` 'none': the push failed because nothing at the tenant answered, which says nothing
 * about this user, so it is only appended; their state stays what was last found. 'user_gone':
 * the tenant has no such user any more (deleted, or moved to another tenant), so they are kept as
 * gone, as a finished scan that no longer lists them keeps them; no failure of theirs to fix.
 */
export async function recordPushAttempt(
  db: Kysely<Database>,
  attempt: PushAttempt,
  failedEtag: string | null,
  result?: PushResult,
  answer: 'answered' | 'none' | 'user_gone' = 'answered',
): Promise<number> {
  const baseline = result?.baseline;
  const failed = attempt.outcome === 'failed';
  return db.transaction().execute(async (trx) => {
    const inserted = await trx
      .insertInto('m365_push_attempts')
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
    if (answer !== 'answered') {
      await trx
        .updateTable('m365_users')
        .set({
          last_attempt_at: attempt.startedAt,
          last_outcome: attempt.outcome,
          ...(answer === 'user_gone' ? { gone_at: attempt.startedAt } : {}),
        })
        .where('id', '=', attempt.userId)
        .execute();
      return Number(inserted.id);
    }
    await trx
      .updateTable('m365_users')
      .set((eb) => ({
        last_attempt_at: attempt.startedAt,
        last_outcome: attempt.outcome,
        ...(failed
          ? {
              failing_since: eb.fn.coalesce('failing_since', eb.val(attempt.startedAt)),
              failed_etag: failedEtag,
              last_error: attempt.error,
              state: 'failing',
              state_reason: attempt.error,
              state_reason_code: 'push_failed',
              state_at: eb.fn.coalesce('failing_since', eb.val(attempt.startedAt)),
            }
          : { failing_since: null, failed_etag: null, last_error: null }),
        ...(result
          ? {
              state: result.state,
              state_reason: result.reason,
              state_reason_code: result.code,
              state_at: attempt.startedAt,
            }
          : {}),
        ...(baseline
          ? {
              baseline_etag: baseline.etag,
              baseline_profile: baseline.profile,
              baseline_verdict: baseline.verdict,
              baseline_source: baseline.source,
              baseline_at: attempt.startedAt,
            }
          : {}),
        ...(result?.pictureUrl !== undefined
          ? { picture_url: result.pictureUrl, picture_stem: pictureFileStem(result.pictureUrl) }
          : {}),
      }))
      .where('id', '=', attempt.userId)
      .execute();
    return Number(inserted.id);
  });
}

export async function listPushAttempts(db: Db, userId: string, limit = 100): Promise<HistoryEntry[]> {
  const rows = await db
    .selectFrom('m365_push_attempts')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('started_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => historyEntryOf(r));
}
