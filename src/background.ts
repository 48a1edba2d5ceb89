import { photoDirectory, type Services } from './services.js';
import { sweepOrphanedBlobs } from './storage/blob-sweeper.js';
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
  const stopSweep = new AbortController();
  const sweep = sweepAtStartUp(services, stopSweep.signal);
  return async () => {
    stopSweep.abort();
    await Promise.all([...stops.map((stop) => stop()), sweep]);
  };
}

/** Blobs left by writes whose commit never came (a crash), once per start. */
async function sweepAtStartUp(services: Services, signal: AbortSignal): Promise<void> {
  try {
    const report = await sweepOrphanedBlobs(
      { db: services.database.db, blobs: services.blobs, photosDir: photoDirectory(services.config) },
      { minAgeMs: services.config.blobSweepMinAgeMinutes * 60_000, apply: true, signal },
    );
    if (report.tempFilesRemoved > 0) {
      services.log.info(
        { removed: report.tempFilesRemoved },
        'removed the temporary files of photo writes that never finished',
      );
    }
    if (report.removed > 0) {
      services.log.info({ removed: report.removed, bytes: report.removedBytes }, 'removed unreferenced photo blobs');
    }
  } catch (error) {
    services.log.warn({ err: error }, 'sweeping unreferenced photo blobs failed; the next start tries again');
  }
}
