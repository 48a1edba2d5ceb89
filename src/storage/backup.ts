import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { withUnicodeLower } from './sqlite-functions.js';
import * as tar from 'tar';
import { BackupError, type RestoreOptions } from './backup-error.js';
import { BLOB_REFERENCES } from './blob-references.js';
import { migrationsUnknownHere, newerVersionMessage, sqliteFileOf } from './database.js';
import { dumpedMigrations, dumpPostgres, restorePostgres } from './pg-tools.js';
import { processIsRunning } from './running-process.js';

// One archive holds a whole photosync: the database and the photo bytes, consistent with each
// other while the server runs. SQLite: the online backup API copies a snapshot of the file (it
// starts again if another process commits meanwhile), then the photo files that snapshot refers
// to are copied. A file may be retired by a sync between the snapshot and its copy; blob keys are
// never rewritten with other bytes, so a fresh snapshot is taken and only what it adds is copied,
// until one snapshot's files are all there. PostgreSQL: pg_dump (the photo bytes are in a table).

export interface BackupManifest {
  format: 'photosync-backup';
  version: 1;
  dialect: 'sqlite' | 'postgres';
  createdAt: string;
  users: number;
  /** Photo files in the archive (SQLite); PostgreSQL keeps them in the dump. */
  photoFiles: number;
  /** PostgreSQL: the schema dumped, which a restore puts back under the same name (backups before 2026-12-03 do not say). */
  schema?: string;
  /** The migrations the database had applied: a restore by an older photosync refuses one it does not know (backups before 2026-12-03 do not say). */
  migrations?: string[];
}

export interface BackupSummary {
  manifest: BackupManifest;
  /** Snapshots taken until one's photo files were all copied (1 unless photos changed meanwhile). */
  snapshots: number;
}

export { BackupError };

const MANIFEST = 'photosync-backup.json';
const SQLITE_ENTRY = 'photosync.sqlite';
const PHOTOS_ENTRY = 'photos';
const PGDUMP_ENTRY = 'database.pgdump';
const MAX_SNAPSHOTS = 10;

export interface BackupTarget {
  dataDir: string;
  databaseUrl: string | undefined;
  /** The environment PostgreSQL's programs run in (their PATH); the process's when not given. */
  env?: NodeJS.ProcessEnv;
}

/** The folder a backup is staged in beside its archive, named after the process writing it. */
const STAGING_PREFIX = '.photosync-backup-';
const STAGING_NAME = /^\.photosync-backup-(\d+)-/;

/** Writes the archive `file` (gzip'd tar); refuses to overwrite one. */
export async function createBackup(
  target: BackupTarget,
  file: string,
  options: { faultPoint?: (name: string) => void } = {},
): Promise<BackupSummary> {
  if (await exists(file)) throw new BackupError(`${file} already exists; name a new file for the backup.`);
  const folder = path.dirname(file);
  await removeAbandonedStaging(folder);
  const staging = await fs.mkdtemp(path.join(folder, `${STAGING_PREFIX}${process.pid}-`)).catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new BackupError(`There is no folder ${folder} for the backup; make it first, or name another.`);
    }
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw new BackupError(
        `Cannot write the backup in ${folder}: ${code === 'EROFS' ? 'read-only' : 'permission denied'}.`,
      );
    }
    throw error;
  });
  try {
    const summary = target.databaseUrl
      ? await stagePostgres(target.databaseUrl, staging, target.env)
      : await stageSqlite(target.dataDir, staging);
    await fs.writeFile(path.join(staging, MANIFEST), `${JSON.stringify(summary.manifest, null, 2)}\n`);
    const entries = [MANIFEST, ...(await fs.readdir(staging)).filter((name) => name !== MANIFEST)];
    // Inside the staging folder, so a backup killed while it writes the archive leaves it there too.
    const partial = path.join(staging, `${randomBytes(4).toString('hex')}.partial`);
    options.faultPoint?.('backup-before-archive');
    await tar.create({ gzip: true, file: partial, cwd: staging, portable: true }, entries);
    await fs.rename(partial, file);
    return summary;
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/**
 * Removes what backups killed part-way left beside their archives (a copy of the database and the
 * photos), once the process that wrote it is gone; a backup still running keeps its folder.
 */
async function removeAbandonedStaging(folder: string): Promise<void> {
  for (const name of await fs.readdir(folder).catch(() => [])) {
    const pid = Number(STAGING_NAME.exec(name)?.[1]);
    if (!pid || processIsRunning(pid)) continue;
    await fs.rm(path.join(folder, name), { recursive: true, force: true });
  }
}

async function stageSqlite(dataDir: string, staging: string): Promise<BackupSummary> {
  const sourceFile = sqliteFileOf(dataDir);
  if (!(await exists(sourceFile))) throw new BackupError(`There is no photosync database at ${sourceFile}.`);
  const source = withUnicodeLower(new SQLite(sourceFile, { readonly: true, fileMustExist: true }));
  const snapshotFile = path.join(staging, SQLITE_ENTRY);
  try {
    return await stageFrom(source, snapshotFile, dataDir);
  } catch (error) {
    throw damagedAsBackupError(error, `The database ${sourceFile}`);
  } finally {
    source.close();
  }
}

async function stageFrom(source: SQLite.Database, snapshotFile: string, dataDir: string): Promise<BackupSummary> {
  const staging = path.dirname(snapshotFile);
  const copied = new Set<string>();
  let missingBefore = new Set<string>();
  for (let snapshots = 1; snapshots <= MAX_SNAPSHOTS; snapshots++) {
    await fs.rm(snapshotFile, { force: true });
    await source.backup(snapshotFile);
    const { keys, users, migrations } = readSnapshot(snapshotFile, 'The database being backed up');
    refuseNewerToBackUp(migrations);
    const missing: string[] = [];
    for (const key of keys) {
      if (copied.has(key)) continue;
      if (await copyPhoto(path.join(dataDir, PHOTOS_ENTRY), path.join(staging, PHOTOS_ENTRY), key)) copied.add(key);
      else missing.push(key);
    }
    // A file retired by a commit is named by no later snapshot (the commit comes before the file
    // goes). One still named by the next snapshot, and still not there, is lost.
    const lost = missing.filter((key) => missingBefore.has(key));
    if (lost.length > 0) throw lostPhotos(snapshotFile, lost);
    missingBefore = new Set(missing);
    if (missing.length === 0) {
      // Files copied for an earlier snapshot that this one no longer refers to stay out of the archive.
      const referenced = new Set(keys);
      for (const key of copied) {
        if (!referenced.has(key)) await fs.rm(path.join(staging, PHOTOS_ENTRY, key), { force: true });
      }
      const manifest = { ...manifestOf('sqlite', users, keys.length), migrations };
      return { manifest, snapshots };
    }
  }
  throw new BackupError(
    `The photos kept changing while they were copied (${MAX_SNAPSHOTS} snapshots); try again at a quieter time.`,
  );
}

/** Photo files the database names that are not in the photos folder: said with whose they are. */
function lostPhotos(snapshotFile: string, keys: string[]): BackupError {
  const snapshot = new SQLite(snapshotFile, { readonly: true });
  try {
    const tables = new Set(snapshot.prepare(`select name from sqlite_master where type = 'table'`).pluck().all());
    const owners = new Set<string>();
    for (const key of keys) {
      for (const { table, column } of BLOB_REFERENCES.filter((r) => tables.has(r.table))) {
        const upn = snapshot
          .prepare(
            `select u.upn from "${table}" t join directory_users u on u.id = t.user_id where t."${column}" = ? limit 1`,
          )
          .pluck()
          .get(key) as string | undefined;
        if (upn) owners.add(upn);
      }
    }
    const whose = [...owners].slice(0, 5).join(', ') + (owners.size > 5 ? ', …' : '');
    return new BackupError(
      `${keys.length} photo ${keys.length === 1 ? 'file' : 'files'} the database names ${keys.length === 1 ? 'is' : 'are'} missing from the photos folder ` +
        `(${keys[0]}${keys.length > 1 ? ', …' : ''}), of ${whose || 'nobody known'}. A restore could not put ${keys.length === 1 ? 'it' : 'them'} back, ` +
        'so no backup was made: set those photos again (or remove them), then back up.',
    );
  } finally {
    snapshot.close();
  }
}

/** The blob keys a snapshot refers to and its number of users; refuses a damaged one. */
function readSnapshot(file: string, what: string): { keys: string[]; users: number; migrations: string[] } {
  try {
    return readCheckedSnapshot(file, what);
  } catch (error) {
    throw damagedAsBackupError(error, what);
  }
}

/**
 * SQLite's own words for a file that is no database or a damaged one, as a BackupError (said
 * plainly, exit 1), and any other error as it was.
 */
function damagedAsBackupError(error: unknown, what: string): unknown {
  const code = (error as { code?: string }).code ?? '';
  if (!/^SQLITE_(NOTADB|CORRUPT)/.test(code)) return error;
  return new BackupError(`${what} is damaged (SQLite: ${(error as Error).message}).`);
}

function readCheckedSnapshot(file: string, what: string): { keys: string[]; users: number; migrations: string[] } {
  const snapshot = withUnicodeLower(new SQLite(file));
  try {
    const check = snapshot.pragma('quick_check(1)', { simple: true });
    if (check !== 'ok') throw new BackupError(`${what} is damaged (SQLite's quick_check: ${String(check)}).`);
    // Every column that names a photo, of the tables this database has (a backup of an older
    // photosync may lack the newer ones).
    const tables = new Set(snapshot.prepare(`select name from sqlite_master where type = 'table'`).pluck().all());
    const named = BLOB_REFERENCES.filter(({ table }) => tables.has(table)).map(
      ({ table, column }) => `select "${column}" from "${table}" where "${column}" is not null`,
    );
    const keys = snapshot.prepare(named.join(' union ')).pluck().all() as string[];
    const users = snapshot.prepare('select count(*) from directory_users').pluck().get() as number;
    const migrations = tables.has('photosync_migrations')
      ? (snapshot.prepare('select name from photosync_migrations order by name').pluck().all() as string[])
      : [];
    // The copy is a file of its own: no write-ahead log beside it in the archive.
    snapshot.pragma('journal_mode = DELETE');
    return { keys, users, migrations };
  } finally {
    snapshot.close();
  }
}

/** A photo key names a file under the photos folder, and nothing outside it. */
function checkPhotoKey(key: string): void {
  if (key.split('/').includes('..') || path.isAbsolute(key)) throw new BackupError(`Unexpected photo key ${key}.`);
}

/** Copies one photo file; false when it is gone (retired since the snapshot). */
async function copyPhoto(from: string, to: string, key: string): Promise<boolean> {
  checkPhotoKey(key);
  await fs.mkdir(path.dirname(path.join(to, key)), { recursive: true });
  try {
    await fs.copyFile(path.join(from, key), path.join(to, key));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

async function stagePostgres(databaseUrl: string, staging: string, env?: NodeJS.ProcessEnv): Promise<BackupSummary> {
  const { users, schema, migrations } = await dumpPostgres(databaseUrl, path.join(staging, PGDUMP_ENTRY), env);
  refuseNewerToBackUp(migrations);
  return { manifest: { ...manifestOf('postgres', users, 0), schema, migrations }, snapshots: 1 };
}

function manifestOf(dialect: BackupManifest['dialect'], users: number, photoFiles: number): BackupManifest {
  return { format: 'photosync-backup', version: 1, dialect, createdAt: new Date().toISOString(), users, photoFiles };
}

/** Restores the archive `file` into the configured place; refuses a place that holds data unless forced. */
export async function restoreBackup(
  target: BackupTarget,
  file: string,
  options: RestoreOptions,
): Promise<BackupManifest> {
  if (!(await exists(file))) throw new BackupError(`There is no file ${file}.`);
  const kind = await fs.stat(file);
  if (kind.isDirectory()) {
    throw new BackupError(`${file} is a folder, not a file: give the backup archive (.tar.gz) photosync backup wrote.`);
  }
  if (!kind.isFile()) {
    // A pipe or a device: the archive is read twice (its list, then its files), which those cannot give.
    throw new BackupError(
      `${file} is not a regular file: save the backup archive (.tar.gz) to a file first, then restore that file. Nothing was changed.`,
    );
  }
  // A file that is no gzip at all is said before anything about the data folder, so nobody is
  // asked to add --force for a file that would then be refused.
  if (!(await startsWithGzip(file))) {
    throw new BackupError(
      `${file} is not a photosync backup: it is not a .tar.gz archive. Give the file photosync backup wrote. Nothing was changed.`,
    );
  }
  // The first folder this made, if any: a restore that is refused takes it away again.
  const made = await fs.mkdir(target.dataDir, { recursive: true }).catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      throw new BackupError(
        `The data folder ${target.dataDir} is a file, or inside one, not a folder: set PHOTOSYNC_DATA_DIR to a folder. Nothing was changed.`,
      );
    }
    throw error;
  });
  try {
    return await restoreInto(target, file, options);
  } catch (error) {
    if (made !== undefined) await fs.rm(made, { recursive: true, force: true });
    throw error;
  }
}

/** Whether the file begins with gzip's two magic bytes (an empty file does not). */
async function startsWithGzip(file: string): Promise<boolean> {
  const handle = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

async function restoreInto(target: BackupTarget, file: string, options: RestoreOptions): Promise<BackupManifest> {
  const held = (await fs.readdir(target.dataDir)).filter((name) => !name.startsWith('.photosync-restore-'));
  if (!target.databaseUrl && held.length > 0 && !options.force) {
    throw new BackupError(
      `The data folder ${target.dataDir} is not empty (${held.slice(0, 3).join(', ')}${held.length > 3 ? ', …' : ''}). ` +
        'Restore into an empty folder (PHOTOSYNC_DATA_DIR), or add --force to replace what is there (stop the server first).',
    );
  }
  // What an interrupted restore left behind: its unpacked archive, never read again.
  for (const name of await fs.readdir(target.dataDir)) {
    if (name.startsWith('.photosync-restore-')) await fs.rm(path.join(target.dataDir, name), { recursive: true });
  }
  const staging = await fs.mkdtemp(path.join(target.dataDir, '.photosync-restore-'));
  try {
    const manifest = await unpack(file, staging);
    const listed: unknown = manifest.migrations;
    if (listed !== undefined && !(Array.isArray(listed) && listed.every((name) => typeof name === 'string'))) {
      throw new BackupError(
        `${file} is a damaged backup: its manifest's list of migrations is not a list of names. Nothing was changed.`,
      );
    }
    refuseNewer(listed ?? []);
    const wanted = target.databaseUrl ? 'postgres' : 'sqlite';
    if (manifest.dialect !== wanted) {
      throw new BackupError(
        manifest.dialect === 'postgres'
          ? 'This backup is of a PostgreSQL database: set DATABASE_URL to the database to restore it into.'
          : 'This backup is of a SQLite database: unset DATABASE_URL to restore it into PHOTOSYNC_DATA_DIR.',
      );
    }
    if (target.databaseUrl) {
      // The dump's own rows, whatever its manifest says (backups before 2026-12-03 say nothing).
      refuseNewer(await dumpedMigrations(path.join(staging, PGDUMP_ENTRY), target.env));
      await restorePostgres(
        target.databaseUrl,
        path.join(staging, PGDUMP_ENTRY),
        options,
        target.env,
        typeof manifest.schema === 'string' && manifest.schema !== '' ? manifest.schema : undefined,
      );
    } else await placeSqlite(target.dataDir, staging, options.faultPoint);
    return manifest;
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/** A database a newer photosync upgraded is backed up by that version: its photos may be named where this one does not look. */
function refuseNewerToBackUp(migrations: readonly string[]): void {
  const unknown = migrationsUnknownHere(migrations);
  if (unknown.length > 0) {
    throw new BackupError(
      `${newerVersionMessage('This database was upgraded', unknown)} Back it up with that version.`,
    );
  }
}

/** A backup a newer photosync made is restored by that version: this one would misread it. */
function refuseNewer(migrations: readonly string[]): void {
  const unknown = migrationsUnknownHere(migrations);
  if (unknown.length > 0)
    throw new BackupError(`${newerVersionMessage('This backup was made', unknown)} Nothing was changed.`);
}

/** Unpacks into `staging` what a backup holds, and nothing else; reads its manifest. */
async function unpack(file: string, staging: string): Promise<BackupManifest> {
  const allowed = (entry: string) =>
    [MANIFEST, SQLITE_ENTRY, PGDUMP_ENTRY].includes(entry) ||
    entry === PHOTOS_ENTRY ||
    entry.startsWith(`${PHOTOS_ENTRY}/`);
  try {
    // Read through once first: an archive cut short fails here, before any file is written (the
    // extraction's writes would still be under way when it failed, and race the clean-up).
    await tar.list({ file, strict: true });
    await tar.extract({
      file,
      cwd: staging,
      strict: true,
      filter: (entry, stat) => {
        // Archives packed from inside the folder (`tar czf b.tar.gz .`) name their entries `./…`.
        const name = entry.replace(/^(\.\/)+/, '').replace(/\/$/, '');
        const type = (stat as { type?: string }).type;
        return allowed(name) && (type === undefined || type === 'File' || type === 'Directory');
      },
    });
  } catch (error) {
    // An archive that ends too soon (a copy cut short) is a damaged backup, not something else.
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (code === 'Z_BUF_ERROR' || /unexpected end of file|truncated/i.test(String(message))) {
      throw new BackupError(
        `${file} is a damaged backup: it ends too soon (${String(message)}). Copy it again from where backups are kept. Nothing was changed.`,
        { cause: error },
      );
    }
    // tar's codes (TAR_BAD_ARCHIVE, TAR_ENTRY_INVALID) say it is no archive of the kind backup writes.
    if (typeof code === 'string' && code.startsWith('TAR_')) {
      throw new BackupError(
        `${file} is not a photosync backup: it is not a .tar.gz archive (${code}). Give the file photosync backup wrote. Nothing was changed.`,
        { cause: error },
      );
    }
    throw new BackupError(`${file} is not a photosync backup: ${String(message)}`, { cause: error });
  }
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(await fs.readFile(path.join(staging, MANIFEST), 'utf8')) as BackupManifest;
  } catch {
    throw new BackupError(`${file} is not a photosync backup (it has no ${MANIFEST}).`);
  }
  if (manifest.format !== 'photosync-backup' || manifest.version !== 1) {
    throw new BackupError(`${file} is not a photosync backup of a version this photosync reads.`);
  }
  return manifest;
}

/**
 * Checks the unpacked database and its photos, then puts them in place so that a crash at any
 * point leaves a whole photosync in the data folder, the old one or the restored one. The photo
 * files go in beside those there (a key never names other bytes, so a file already there is the
 * same file); the old database's write-ahead log is folded into its file; the restored file then
 * replaces it in one rename. Only after that go the files only the old database named.
 */
async function placeSqlite(dataDir: string, staging: string, faultPoint?: (name: string) => void): Promise<void> {
  const staged = path.join(staging, SQLITE_ENTRY);
  if (!(await exists(staged))) throw new BackupError('The backup holds no database.');
  const { keys, migrations } = readSnapshot(staged, 'The database in the backup');
  refuseNewer(migrations);
  keys.forEach(checkPhotoKey);
  const photos = path.join(staging, PHOTOS_ENTRY);
  const absent = [];
  for (const key of keys) if (!(await exists(path.join(photos, key)))) absent.push(key);
  if (absent.length > 0) {
    throw new BackupError(
      `The backup is incomplete: ${absent.length === 1 ? '1 photo file is' : `${absent.length} photo files are`} missing (${absent[0]}${absent.length > 1 ? ', …' : ''}).`,
    );
  }
  const database = sqliteFileOf(dataDir);
  const photosDir = path.join(dataDir, PHOTOS_ENTRY);
  for (const key of keys) {
    const to = path.join(photosDir, key);
    if (await exists(to)) continue;
    await fs.mkdir(path.dirname(to), { recursive: true });
    await fs.rename(path.join(photos, key), to);
  }
  faultPoint?.('restore-after-photos');
  foldWriteAheadLog(database);
  // Empty now, and it would not belong to the new file.
  for (const suffix of ['-wal', '-shm']) await fs.rm(`${database}${suffix}`, { force: true });
  faultPoint?.('restore-before-switch');
  await flush(staged);
  await fs.rename(staged, database);
  await flush(dataDir);
  faultPoint?.('restore-after-switch');
  await removeUnnamed(photosDir, new Set(keys));
}

/**
 * Moves what the database's write-ahead log holds into the database file, so the file alone is
 * whole. A database that is no database (or damaged, often why it is being replaced) has nothing
 * worth keeping; one in use by a server is not replaced under it.
 */
function foldWriteAheadLog(file: string): void {
  let database: SQLite.Database;
  try {
    database = withUnicodeLower(new SQLite(file, { fileMustExist: true }));
  } catch {
    return;
  }
  const inUse = () => new BackupError(`The database ${file} is in use: stop photosync serve, then restore.`);
  try {
    // Every connection to a WAL database holds a shared lock on its file while it is open, even
    // idle, so only an exclusive lock says no server has it (a checkpoint succeeds under one).
    database.pragma('busy_timeout = 1000');
    database.pragma('locking_mode = EXCLUSIVE');
    try {
      database.exec('BEGIN EXCLUSIVE');
      database.exec('COMMIT');
    } catch (error) {
      if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY')) throw inUse();
      throw error;
    }
    const [result] = database.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
    if (result?.busy) throw inUse();
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    if (error instanceof BackupError || !/^SQLITE_(NOTADB|CORRUPT)/.test(code)) throw error;
  } finally {
    database.close();
  }
}

/** Writes a file's (or a folder's entries') data through to the disk. */
async function flush(file: string): Promise<void> {
  const handle = await fs.open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Removes the files under `photosDir` whose key is not in `keys`. */
async function removeUnnamed(photosDir: string, keys: ReadonlySet<string>): Promise<void> {
  const entries = await fs.readdir(photosDir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const key = path.relative(photosDir, file).split(path.sep).join('/');
    if (!keys.has(key)) await fs.rm(file, { force: true });
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}
