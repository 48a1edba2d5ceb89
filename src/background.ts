import type { Services } from './services.js';
import { startHistoryPurge } from './sync/retention.js';

// What a serving instance does besides answering requests. Every instance runs it; each task is
// safe to run from several instances at once on one database.

export function startBackgroundWork(services: Services): () => Promise<void> {
  const stops = [
    startHistoryPurge({
      db: services.database.db,
      retentionDays: () => services.config.historyRetentionDays,
      log: services.log,
    }),
  ];
  return async () => {
    await Promise.all(stops.map((stop) => stop()));
  };
}
