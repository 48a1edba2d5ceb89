import type { Db } from '../storage/database.js';

// When photosync found what it last found about one tenant user, so that a page can say "as of"
// rather than state a day-old finding as now. A scan decides a user's state, and so does a push
// since it (src/m365/history.ts): its outcome, or a failure that reached the tenant ('failing').
// A push that found nothing at the tenant leaves the state as the scan found it.

export type StateFinding = { by: 'scan' | 'push'; at: number };

/** Who last decided the user's state, and when; undefined while nothing has (no state yet). */
export async function stateFinding(db: Db, userId: string): Promise<StateFinding | undefined> {
  const row = await db
    .selectFrom('m365_users as u')
    .leftJoin('m365_scans as s', 's.id', 'u.seen_scan_id')
    .select(['u.state', 'u.last_attempt_at', 'u.last_outcome', 's.started_at', 's.finished_at'])
    .where('u.id', '=', userId)
    .executeTakeFirst();
  if (!row || row.state === null) return undefined;
  // A scan that is still running read the user after it started: its start is the time to give.
  const scannedAt = row.started_at === null ? null : (row.finished_at ?? row.started_at);
  const pushed = row.last_attempt_at;
  const pushDecided = pushed !== null && (row.last_outcome !== 'failed' || row.state === 'failing');
  if (pushDecided && (scannedAt === null || pushed >= scannedAt)) return { by: 'push', at: pushed };
  return scannedAt === null ? undefined : { by: 'scan', at: scannedAt };
}
