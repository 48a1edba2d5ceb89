import { photoDirectory } from '../../services.js';
import { sweepOrphanedBlobs } from '../../storage/blob-sweeper.js';
import type { CommandHandler } from '../command.js';
import { counted } from '../output.js';

/**
 * Lists (or with --apply removes) photo blobs that no table names and that were written longer
 * ago than PHOTOSYNC_BLOB_SWEEP_MIN_AGE_MINUTES: what a crash between a write and its commit left.
 */
export const maintenanceSweep: CommandHandler = async ({ services: open, config, flag, print }) => {
  const services = await open();
  const apply = flag('apply');
  const report = await sweepOrphanedBlobs(
    { db: services.database.db, blobs: services.blobs, photosDir: photoDirectory(config) },
    { minAgeMs: config.blobSweepMinAgeMinutes * 60_000, apply },
  );
  const bytes = report.orphans.reduce((n, o) => n + o.byteSize, 0);
  const lines = report.orphans.map((o) => `  ${o.key} (${o.byteSize} bytes)`);
  const window = `written more than ${config.blobSweepMinAgeMinutes} min ago`;
  if (apply) {
    if (report.tempFilesRemoved > 0) {
      lines.push(`Temporary files of photo writes that never finished, removed: ${report.tempFilesRemoved}.`);
    }
    lines.push(
      `Removed ${report.removed} of ${report.orphans.length} unreferenced blobs ${window} (${report.removedBytes} bytes); ${report.examined} blobs examined.`,
    );
  } else if (report.orphans.length === 0) {
    lines.push(`No unreferenced blobs ${window}; ${counted(report.examined, 'blob')} examined. Nothing to remove.`);
  } else {
    lines.push(
      `${counted(report.orphans.length, 'unreferenced blob')} ${window} (${bytes} bytes); ${counted(report.examined, 'blob')} examined. Nothing was removed: run with --apply to remove them.`,
    );
  }
  print(lines.join('\n'));
};
