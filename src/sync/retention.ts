import type { Logger } from 'pino';
import type { Db } from '../storage/database.js';

// The sync history's retention: attempts last made longer ago than the setting are deleted in
// the background, a bounded batch at a time, so the purge never holds the write lock for long.

export const PURGE_BATCH = 500;
/** Batches per round at most: a backlog (a first purge of years of history) spreads over rounds. */
export const PURGE_BATCHES_PER_ROUND = 200;
export const PURGE_INTERVAL_MS = 10 * 60 * 1000;

const DAY_MS = 24 * 3600 * 1000;

/**
 * Deletes at most `limit` attempts whose last check started before `before`; returns how many.
 * Safe to run from every instance at once: a row another purge deleted first is simply not there.
 */
export async function purgeHistoryBatch(db: Db, before: number, limit = PURGE_BATCH): Promise<number> {
  const result = await db
    .deleteFrom('sync_attempts')
    .where('id', 'in', (eb) =>
      eb.selectFrom('sync_attempts').select('id').where('last_at', '<', before).orderBy('last_at').limit(limit),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** One round: batches until the old rows are gone or the round's share is done. */
export async function purgeHistory(
  db: Db,
  retentionDays: number,
  now = Date.now(),
  options: { batch?: number; maxBatches?: number } = {},
): Promise<number> {
  if (retentionDays <= 0) return 0;
  const batch = options.batch ?? PURGE_BATCH;
  const before = now - retentionDays * DAY_MS;
  let deleted = 0;
  for (let round = 0; round < (options.maxBatches ?? PURGE_BATCHES_PER_ROUND); round++) {
    const n = await purgeHistoryBatch(db, before, batch);
    deleted += n;
    if (n < batch) break;
    // Let requests between batches.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return deleted;
}

/** Runs a round now and then every interval, until stopped. */
export function startHistoryPurge(deps: {
  db: Db;
  retentionDays: () => number;
  log: Logger;
  intervalMs?: number;
}): () => Promise<void> {
  let running: Promise<void> | undefined;
  const round = () => {
    running ??= purgeHistory(deps.db, deps.retentionDays())
      .then((deleted) => {
        if (deleted > 0) deps.log.info({ deleted }, 'purged old sync attempts');
      })
      .catch((error: unknown) => deps.log.warn({ err: error }, 'purging old sync attempts failed; trying again later'))
      .finally(() => {
        running = undefined;
      });
  };
  round();
  const timer = setInterval(round, deps.intervalMs ?? PURGE_INTERVAL_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
