import fs from 'node:fs/promises';
import type { Dir } from 'node:fs';
import path from 'node:path';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './database.js';
import { processIsRunning } from './running-process.js';

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
   * runs as each one is stored. Meant for new keys: a file is written straight under its name
   * (a key already there is replaced whole, as by `put`).
   */
  putAll(blobs: ReadonlyArray<{ key: string; bytes: Buffer }>, afterEach?: (key: string) => void): Promise<void>;
  get(key: string): Promise<Buffer | undefined>;
  /** Several blobs read at once (PostgreSQL: one query), in the order of `keys`; undefined where one is not stored. */
  getAll(keys: readonly string[]): Promise<Array<Buffer | undefined>>;
  delete(keys: readonly string[]): Promise<void>;
  /** Counts bytes of this store read by another module's query (on PostgreSQL, a join with `storage_blobs`). */
  countRead(bytes: number): void;
  /**
   * Blobs that `trx` stops pointing at. Kept in the database, they go in the same commit; kept as
   * files, they may only go once it has committed, which the returned function does.
   */
  retire(trx: Transaction<Database>, keys: readonly string[]): Promise<() => Promise<void>>;
  /**
   * Every blob's key, a batch at a time, for the sweeper. Files also list what failed writes left
   * aside (`*.tmp`), which nothing ever names.
   */
  listKeys(): AsyncIterable<string[]>;
  /**
   * Of `keys`, the blobs still stored and written before `writtenBefore`, with their size. The
   * sweeper asks only for keys no table names, so a store of many photos is not read for each.
   */
  writtenBefore(keys: readonly string[], writtenBefore: number): Promise<StoredBlob[]>;
}

export interface StoredBlob {
  key: string;
  byteSize: number;
  writtenAt: number;
}

export const LIST_BATCH = 500;

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
  /**
   * A blob under a key nobody names yet: created straight under its name and flushed
   * (`fdatasync`: its bytes and its size), with no file aside and no rename. Until a row names
   * the key nothing reads it, so a crash part-way leaves an orphan for the sweeper, never a
   * half-written picture anyone is shown. The folder is made only when the file cannot be.
   */
  async function putNew(key: string, bytes: Buffer): Promise<void> {
    const file = fileOf(key);
    let handle: fs.FileHandle;
    try {
      handle = await files.open(file, 'wx');
    } catch (error) {
      const { code } = error as NodeJS.ErrnoException;
      if (code === 'EEXIST') return put(key, bytes);
      if (code !== 'ENOENT') throw error;
      await files.mkdir(path.dirname(file), { recursive: true });
      handle = await files.open(file, 'wx');
    }
    try {
      await handle.writeFile(bytes);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }
  async function read(key: string): Promise<Buffer | undefined> {
    try {
      const bytes = await files.readFile(fileOf(key));
      counter?.inc(bytes.length);
      return bytes;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
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
          await putNew(key, bytes);
          afterEach?.(key);
        }),
      );
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) {
        // The set is written whole or not at all: the ones that made it (or got part of the way)
        // belong to nobody.
        await deleteFiles(blobs.map((b) => b.key)).catch(() => {});
        throw failed.reason;
      }
    },
    get: read,
    getAll(keys) {
      return Promise.all(keys.map(read));
    },
    delete: deleteFiles,
    countRead: (bytes) => counter?.inc(bytes),
    retire(_trx, keys) {
      return Promise.resolve(() => deleteFiles(keys));
    },
    async *listKeys() {
      let batch: string[] = [];
      for await (const key of filesUnder(root, '')) {
        if (!KEY_PATTERN.test(key) || key.includes('..')) continue;
        batch.push(key);
        if (batch.length === LIST_BATCH) {
          yield batch;
          batch = [];
        }
      }
      if (batch.length > 0) yield batch;
    },
    async writtenBefore(keys, writtenBefore) {
      const found: StoredBlob[] = [];
      for (const key of keys) {
        const stat = await fs.stat(fileOf(key)).catch(() => undefined);
        if (!stat?.isFile() || stat.mtimeMs >= writtenBefore) continue;
        found.push({ key, byteSize: stat.size, writtenAt: stat.mtimeMs });
      }
      return found;
    },
  };
}

/**
 * The files under `dir` as keys (`mail/<user>/<name>`), read a directory at a time: a store of
 * 100,000 users has as many directories and three times as many files, whose names read at once
 * (`readdir` with `recursive`) held tens of megabytes for as long as the sweep took.
 */
async function* filesUnder(dir: string, prefix: string): AsyncGenerator<string> {
  let entries: Dir;
  try {
    entries = await fs.opendir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // The root missing is an empty store; a directory gone meanwhile (its user removed) is empty.
    if (code === 'ENOENT' || (code === 'ENOTDIR' && prefix !== '')) return;
    throw error;
  }
  for await (const entry of entries) {
    const key = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) yield* filesUnder(path.join(dir, entry.name), key);
    else if (entry.isFile()) yield key;
  }
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
export async function removeStaleTempFiles(
  root: string,
  olderThanMs: number,
  now = Date.now(),
  signal?: AbortSignal,
): Promise<number> {
  let removed = 0;
  for await (const name of filesUnder(root, '')) {
    if (signal?.aborted) break;
    if (!name.endsWith(TEMP_SUFFIX)) continue;
    const file = path.join(root, name);
    const stat = await fs.stat(file).catch(() => undefined);
    if (!stat || (now - stat.mtimeMs < olderThanMs && writerIsRunning(path.basename(file)))) continue;
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
        // Written again: young again, so the sweeper's safety window covers the commit that follows.
        .onConflict((oc) =>
          oc.column('key').doUpdateSet((eb) => ({ bytes, created_at: eb.ref('excluded.created_at') })),
        )
        .execute();
    },
    async putAll(blobs, afterEach) {
      if (blobs.length === 0) return;
      for (const { key } of blobs) checkKey(key);
      const createdAt = Date.now();
      await db
        .insertInto('storage_blobs')
        .values(blobs.map(({ key, bytes }) => ({ key, bytes, created_at: createdAt })))
        .onConflict((oc) =>
          oc
            .column('key')
            .doUpdateSet((eb) => ({ bytes: eb.ref('excluded.bytes'), created_at: eb.ref('excluded.created_at') })),
        )
        .execute();
      for (const { key } of blobs) afterEach?.(key);
    },
    async get(key) {
      const row = await db.selectFrom('storage_blobs').select('bytes').where('key', '=', key).executeTakeFirst();
      if (row) counter?.inc(row.bytes.length);
      return row?.bytes;
    },
    async getAll(keys) {
      if (keys.length === 0) return [];
      const rows = await db
        .selectFrom('storage_blobs')
        .select(['key', 'bytes'])
        .where('key', 'in', [...keys])
        .execute();
      const found = new Map(rows.map((row) => [row.key, row.bytes]));
      for (const bytes of found.values()) counter?.inc(bytes.length);
      return keys.map((key) => found.get(key));
    },
    async delete(keys) {
      if (keys.length === 0) return;
      await db
        .deleteFrom('storage_blobs')
        .where('key', 'in', [...keys])
        .execute();
    },
    countRead: (bytes) => counter?.inc(bytes),
    async retire(trx, keys) {
      if (keys.length > 0) {
        await trx
          .deleteFrom('storage_blobs')
          .where('key', 'in', [...keys])
          .execute();
      }
      return NOTHING_LEFT;
    },
    async *listKeys() {
      let after = '';
      for (;;) {
        const rows = await db
          .selectFrom('storage_blobs')
          .select('key')
          .where('key', '>', after)
          .orderBy('key')
          .limit(LIST_BATCH)
          .execute();
        if (rows.length === 0) return;
        yield rows.map((r) => r.key);
        after = rows[rows.length - 1]!.key;
      }
    },
    async writtenBefore(keys, writtenBefore) {
      if (keys.length === 0) return [];
      const rows = await db
        .selectFrom('storage_blobs')
        .select(['key', 'created_at', (eb) => eb.fn<number>('octet_length', ['bytes']).as('size')])
        .where('key', 'in', [...keys])
        .where('created_at', '<', writtenBefore)
        .orderBy('key')
        .execute();
      return rows.map((r) => ({ key: r.key, byteSize: Number(r.size), writtenAt: Number(r.created_at) }));
    },
  };
}

/** Whether the process named in a temporary file's name (`<name>.<pid>.<time>.tmp`) still runs here. */
function writerIsRunning(name: string): boolean {
  const pid = Number(/\.(\d+)\.\d+\.tmp$/.exec(name)?.[1]);
  return !Number.isInteger(pid) || pid <= 0 || processIsRunning(pid);
}
