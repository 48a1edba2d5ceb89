import fs from 'node:fs/promises';
import path from 'node:path';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './database.js';

/**
 * Photo bytes, addressed by keys the roles make themselves (`mail/<user>/<etag>.jpg`). A key is
 * written once and never rewritten with other bytes, so a row that points at a key always finds
 * complete bytes there: writers put new blobs first, commit the row, then delete the old blobs.
 */
export interface BlobStore {
  readonly kind: 'files' | 'postgres';
  put(key: string, bytes: Buffer): Promise<void>;
  /**
   * Several blobs that belong together (a picture's S, M and L), written at once: files in
   * parallel, PostgreSQL rows in one insert, so one flush instead of one per blob. `afterEach`
   * runs as each one is stored.
   */
  putAll(blobs: ReadonlyArray<{ key: string; bytes: Buffer }>, afterEach?: (key: string) => void): Promise<void>;
  get(key: string): Promise<Buffer | undefined>;
  delete(keys: readonly string[]): Promise<void>;
  /**
   * Blobs that `trx` stops pointing at. Kept in the database, they go in the same commit; kept as
   * files, they may only go once it has committed, which the returned function does.
   */
  retire(trx: Transaction<Database>, keys: readonly string[]): Promise<() => Promise<void>>;
}

const NOTHING_LEFT = () => Promise.resolve();

export interface BlobReadCounter {
  inc(bytes: number): void;
}

const KEY_PATTERN = /^[a-z]+(\/[A-Za-z0-9_.-]+)+$/;

function checkKey(key: string): void {
  if (!KEY_PATTERN.test(key) || key.includes('..')) throw new Error(`Invalid blob key: ${key}`);
}

/** The file operations the file store uses: node's own, or a test's that fails as a full disk would. */
export interface BlobFileSystem {
  open: typeof fs.open;
  mkdir: typeof fs.mkdir;
  rename: typeof fs.rename;
  rm: typeof fs.rm;
  readFile: typeof fs.readFile;
}

const TEMP_SUFFIX = '.tmp';

export function createFileBlobStore(root: string, counter?: BlobReadCounter, files: BlobFileSystem = fs): BlobStore {
  const fileOf = (key: string) => {
    checkKey(key);
    return path.join(root, key);
  };
  async function put(key: string, bytes: Buffer): Promise<void> {
    const file = fileOf(key);
    await files.mkdir(path.dirname(file), { recursive: true });
    // Write aside, flush, then rename: a crash leaves either no file or the whole file.
    const temp = `${file}.${process.pid}.${Date.now()}${TEMP_SUFFIX}`;
    try {
      const handle = await files.open(temp, 'w');
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await files.rename(temp, file);
    } catch (error) {
      // A full or read-only disk must not leave half-written files behind to fill it further.
      await files.rm(temp, { force: true }).catch(() => {});
      throw error;
    }
  }
  async function deleteFiles(keys: readonly string[]): Promise<void> {
    await Promise.all(keys.map((key) => files.rm(fileOf(key), { force: true })));
  }
  return {
    kind: 'files',
    put,
    async putAll(blobs, afterEach) {
      const results = await Promise.allSettled(
        blobs.map(async ({ key, bytes }) => {
          await put(key, bytes);
          afterEach?.(key);
        }),
      );
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) {
        // The set is written whole or not at all: the ones that made it belong to nobody.
        await deleteFiles(blobs.map((b) => b.key)).catch(() => {});
        throw failed.reason;
      }
    },
    async get(key) {
      try {
        const bytes = await files.readFile(fileOf(key));
        counter?.inc(bytes.length);
        return bytes;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    delete: deleteFiles,
    retire(_trx, keys) {
      return Promise.resolve(() => deleteFiles(keys));
    },
  };
}

/**
 * Writes and removes a small file where photos go, so a full or read-only disk is named at start-up
 * rather than at the first upload. Throws what the file system said.
 */
export async function checkFileStoreWrites(root: string, files: BlobFileSystem = fs): Promise<void> {
  await files.mkdir(root, { recursive: true });
  const probe = path.join(root, `.write-check.${process.pid}.${Date.now()}${TEMP_SUFFIX}`);
  try {
    const handle = await files.open(probe, 'w');
    try {
      await handle.writeFile('photosync');
      await handle.sync();
    } finally {
      await handle.close();
    }
  } finally {
    await files.rm(probe, { force: true }).catch(() => {});
  }
}

/**
 * Removes the files a write left aside when it could not finish (a crash, a full disk): `*.tmp`
 * under the photo store whose writer is no longer running on this machine, or older than
 * `olderThanMs` (a writer on another machine sharing the folder), so a write still under way in
 * another process is left alone. Returns how many went.
 */
export async function removeStaleTempFiles(root: string, olderThanMs: number, now = Date.now()): Promise<number> {
  let removed = 0;
  let entries;
  try {
    entries = await fs.readdir(root, { recursive: true, withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.endsWith(TEMP_SUFFIX)) continue;
    const file = path.join(entry.parentPath, entry.name);
    const stat = await fs.stat(file).catch(() => undefined);
    if (!stat || (now - stat.mtimeMs < olderThanMs && writerIsRunning(entry.name))) continue;
    await fs.rm(file, { force: true });
    removed++;
  }
  return removed;
}

export function createPostgresBlobStore(db: Kysely<Database>, counter?: BlobReadCounter): BlobStore {
  return {
    kind: 'postgres',
    async put(key, bytes) {
      checkKey(key);
      await db
        .insertInto('storage_blobs')
        .values({ key, bytes, created_at: Date.now() })
        .onConflict((oc) => oc.column('key').doUpdateSet({ bytes }))
        .execute();
    },
    async putAll(blobs, afterEach) {
      if (blobs.length === 0) return;
      for (const { key } of blobs) checkKey(key);
      const createdAt = Date.now();
      await db
        .insertInto('storage_blobs')
        .values(blobs.map(({ key, bytes }) => ({ key, bytes, created_at: createdAt })))
        .onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({ bytes: eb.ref('excluded.bytes') })))
        .execute();
      for (const { key } of blobs) afterEach?.(key);
    },
    async get(key) {
      const row = await db.selectFrom('storage_blobs').select('bytes').where('key', '=', key).executeTakeFirst();
      if (row) counter?.inc(row.bytes.length);
      return row?.bytes;
    },
    async delete(keys) {
      if (keys.length === 0) return;
      await db
        .deleteFrom('storage_blobs')
        .where('key', 'in', [...keys])
        .execute();
    },
    async retire(trx, keys) {
      if (keys.length > 0) {
        await trx
          .deleteFrom('storage_blobs')
          .where('key', 'in', [...keys])
          .execute();
      }
      return NOTHING_LEFT;
    },
  };
}

/** Whether the process named in a temporary file's name (`<name>.<pid>.<time>.tmp`) still runs here. */
function writerIsRunning(name: string): boolean {
  const pid = Number(/\.(\d+)\.\d+\.tmp$/.exec(name)?.[1]);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
