import path from 'node:path';
import { COMMAND_LINE, recordAudit } from '../../admin/audit.js';
import { BackupError } from '../../storage/backup-error.js';
import { crashAt } from '../../fault-point.js';
import { createBackup, restoreBackup } from '../../storage/backup.js';
import type { CommandContext, CommandHandler } from '../command.js';
import { CliError, counted, UsageError } from '../output.js';

// Backups of a whole photosync (database and photo bytes, consistent with each other) while it runs,
// and putting one back into an empty place. The work is the storage's (src/storage/backup.ts).

export const backup: CommandHandler = async ({ args, config, io, print }) => {
  const file = archivePath(args, io.cwd);
  const faultPoint = config.faultInjection ? crashAt(config.faultInjection) : undefined;
  const { manifest, snapshots } = await explained(() =>
    createBackup({ ...config, env: io.env }, file, faultPoint ? { faultPoint } : {}),
  );
  const photos = manifest.dialect === 'sqlite' ? counted(manifest.photoFiles, 'photo file') : 'photos in the database';
  print(`Backed up ${counted(manifest.users, 'user')} and ${photos} (${manifest.dialect}) to ${file}.`);
  if (snapshots > 1) print(`Photos changed during the backup; the archive holds snapshot ${snapshots}, whole.`);
};

export const restore: CommandHandler = async ({ args, config, io, print, flag, services }) => {
  const file = archivePath(args, io.cwd);
  const faultPoint = config.faultInjection ? crashAt(config.faultInjection) : undefined;
  const manifest = await explained(() =>
    restoreBackup({ ...config, env: io.env }, file, { force: flag('force'), ...(faultPoint ? { faultPoint } : {}) }),
  );
  // In the restored database's own audit log: what the console shows from now on.
  await recordAudit((await services()).database.db, COMMAND_LINE, 'restored', {
    file: path.basename(file),
    users: manifest.users,
    backupCreatedAt: manifest.createdAt,
  });
  const where = config.databaseUrl ? 'the database of DATABASE_URL' : config.dataDir;
  print(`Restored ${counted(manifest.users, 'user')} from the backup of ${manifest.createdAt} into ${where}.`);
  print('Start photosync on it with `photosync serve`.');
};

function archivePath(args: CommandContext['args'], cwd: string): string {
  const [file] = args;
  if (!file) throw new UsageError('Name the backup file, e.g. photosync-backup.tar.gz.');
  return path.resolve(cwd, file);
}

async function explained<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof BackupError) throw new CliError(error.message);
    throw error;
  }
}
