import fs from 'node:fs/promises';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import type { DirectoryUser } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import { getRendition } from '../src/sites/profiles.js';
import type { BlobFileSystem } from '../src/storage/blob-store.js';
import { sweepOrphanedBlobs } from '../src/storage/blob-sweeper.js';
import { sqliteFileOf } from '../src/storage/database.js';
import { storageFaultOf } from '../src/storage/faults.js';
import { bearer, userToken } from './support/apps.js';
import { runCommand } from './support/cli.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import {
  adminQuery,
  createTestStore,
  describeEachDialect,
  openTestServices,
  type TestStore,
} from './support/services.js';

// What the storage under photosync does to it: a damaged or foreign database file, a full or
// read-only disk. The faults are real where they can be (a page of the file overwritten on disk, a
// file of another application); a full disk is injected as the errno the file system would give.

/** A user with a mail photo whose renditions are published: something to serve. */
async function userWithPicture(services: Services): Promise<DirectoryUser> {
  const user = await makeUser(services);
  await giveMailPhoto(services, user, await solidJpeg([40, 120, 200], 400));
  const result = await services.sync.sync(user, 'admin');
  expect(result.outcome).toBe('synced');
  return user;
}

/** Overwrites the first page of `table`'s b-tree in the file itself, as a failing disk would. */
async function damageTable(file: string, table: string): Promise<void> {
  const database = new SQLite(file, { readonly: true });
  const pageSize = database.pragma('page_size', { simple: true }) as number;
  const root = database.prepare('select rootpage from sqlite_master where name = ?').pluck().get(table) as number;
  database.close();
  const handle = await fs.open(file, 'r+');
  try {
    await handle.write(Buffer.alloc(pageSize, 0xff), 0, pageSize, (root - 1) * pageSize);
  } finally {
    await handle.close();
  }
}

async function tempFilesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return entries.filter((name) => name.endsWith('.tmp'));
}

function logLines(): { lines: string[]; log: pino.Logger } {
  const lines: string[] = [];
  return { lines, log: pino({ level: 'info' }, { write: (line: string) => lines.push(line) }) };
}

describe('a damaged SQLite file', () => {
  let store: TestStore;
  afterEach(async () => {
    await store.drop();
  });

  it('is refused at start-up, with a message naming the file, by the server and the command line', async () => {
    store = await createTestStore('sqlite');
    const services = await openTestServices(store);
    await userWithPicture(services);
    await services.close();
    const file = sqliteFileOf(store.dataDir);
    await damageTable(file, 'site_renditions');

    await expect(openTestServices(store)).rejects.toThrow(`The database file ${file} is damaged`);
    const cli = await runCommand(['status'], store.env);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/is damaged \((SQLITE_CORRUPT|SQLite's quick_check: .+)\)\./);
    expect(cli.stderr).toContain('restore it from a backup');
  });

  it('makes /readyz answer 503 while the server runs on it, where /healthz still says ok', async () => {
    store = await createTestStore('sqlite');
    const services = await openTestServices(store);
    const app = await buildApp(services);
    try {
      await userWithPicture(services);
      expect((await app.inject('/readyz')).json()).toEqual({ status: 'ready', database: 'ok', photos: 'ok' });
      // Everything into the file itself, then a page of it broken under the running server.
      await sql`pragma wal_checkpoint(truncate)`.execute(services.database.db);
      await damageTable(sqliteFileOf(store.dataDir), 'site_renditions');
      await new Promise((resolve) => setTimeout(resolve, 1100)); // past the probe's shared answer

      const ready = await app.inject('/readyz');
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toEqual({
        status: 'not_ready',
        database: 'the database file is damaged (SQLITE_CORRUPT)',
        photos: 'not checked',
      });
      expect(ready.headers['cache-control']).toBe('no-store');
      expect((await app.inject('/healthz')).statusCode).toBe(200);
    } finally {
      await app.close();
      await services.close();
    }
  });

  it('is a file that is not a database at all: refused, and left as it was', async () => {
    store = await createTestStore('sqlite');
    const file = sqliteFileOf(store.dataDir);
    await fs.writeFile(file, 'these are my notes, not a database\n'.repeat(200));
    await expect(openTestServices(store)).rejects.toThrow(`The file ${file} is not a SQLite database (SQLITE_NOTADB)`);
    expect(await fs.readFile(file, 'utf8')).toMatch(/^these are my notes/);
  });
});

describe("another application's SQLite file", () => {
  let store: TestStore;
  afterEach(async () => {
    await store.drop();
  });

  it('is not migrated: photosync refuses it and adds no table', async () => {
    store = await createTestStore('sqlite');
    const file = sqliteFileOf(store.dataDir);
    const other = new SQLite(file);
    other.exec('create table invoices (id integer primary key, total real); insert into invoices values (1, 9.5)');
    other.exec('create table customers (id integer primary key, name text)');
    other.close();

    await expect(openTestServices(store)).rejects.toThrow(
      `The database file ${file} holds another application's tables (customers, invoices) and none of photosync's`,
    );
    const cli = await runCommand(['status'], store.env);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('PHOTOSYNC_DATA_DIR to a folder of its own');

    const after = new SQLite(file, { readonly: true });
    const tables = after.prepare("select name from sqlite_master where type = 'table' order by name").pluck().all();
    after.close();
    expect(tables).toEqual(['customers', 'invoices']);
  });

  it('an empty file, or one of photosync, still opens', async () => {
    store = await createTestStore('sqlite');
    await fs.writeFile(sqliteFileOf(store.dataDir), '');
    const first = await openTestServices(store);
    await makeUser(first);
    await first.close();
    const again = await openTestServices(store);
    await again.close();
  });
});

describeEachDialect('/readyz', (dialect) => {
  let store: TestStore;
  let services: Services;
  let app: App;
  beforeAll(async () => {
    store = await createTestStore(dialect);
    services = await openTestServices(store);
    app = await buildApp(services);
  });
  afterAll(async () => {
    await app.close();
    await services.close();
    await store.drop();
  });

  it('reads the database and a stored picture: ready', async () => {
    await userWithPicture(services);
    const ready = await app.inject('/readyz');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', database: 'ok', photos: 'ok' });
  });

  it.runIf(dialect === 'sqlite')('is not ready when the photo files are gone (a folder not mounted)', async () => {
    await fs.rm(path.join(store.dataDir, 'photos'), { recursive: true, force: true });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const ready = await app.inject('/readyz');
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toEqual({ status: 'not_ready', database: 'ok', photos: 'a stored picture is missing' });
  });
});

/** Node's file operations, except that writing fails with `code` while `failing` is set. */
function faultyFiles(): BlobFileSystem & { failWith: string | undefined } {
  const files = {
    failWith: undefined as string | undefined,
    mkdir: fs.mkdir,
    rename: fs.rename,
    rm: fs.rm,
    readFile: fs.readFile,
    open: (async (file: string, flags: string) => {
      const handle = await fs.open(file, flags);
      const code = files.failWith;
      if (code === undefined) return handle;
      // The file exists (as after a write that got part of the way), and the write fails.
      return Object.assign(Object.create(handle) as fs.FileHandle, {
        writeFile: () =>
          Promise.reject(Object.assign(new Error(`${code}: write failed, write '${file}'`), { code, path: file })),
        close: () => handle.close(),
      });
    }) as BlobFileSystem['open'],
  };
  return files;
}

describe.each([
  ['full', 'ENOSPC', 'storage_full', 'the disk is full (ENOSPC)', 'its disk is full'],
  ['read-only', 'EROFS', 'storage_read_only', 'the storage is read-only (EROFS)', 'its storage is read-only'],
  // A folder its user may not write (owner, mode): the same to photosync, said as what it is in the log.
  ['not writable', 'EACCES', 'storage_read_only', 'may not write there (EACCES)', 'its storage is read-only'],
])('a %s disk under the photo store', (_what, code, id, words, told) => {
  let store: TestStore;
  let services: Services;
  let app: App;
  const files = faultyFiles();
  const { lines, log } = logLines();
  let owner: DirectoryUser;
  let ownerToken: string;
  let colleagueToken: string;
  let before: Buffer;

  beforeAll(async () => {
    store = await createTestStore('sqlite');
    services = await openTestServices(store, {}, { blobFiles: files, log });
    app = await buildApp(services);
    owner = await userWithPicture(services);
    ownerToken = await userToken(services, owner, ['ProfilePhoto.ReadWrite.All']);
    colleagueToken = await userToken(services, await makeUser(services));
    const current = await app.inject({ url: '/v1.0/me/photo/$value', headers: bearer(ownerToken) });
    expect(current.statusCode).toBe(200);
    before = current.rawPayload;
    files.failWith = code;
  });
  afterAll(async () => {
    await app.close();
    await services.close();
    await store.drop();
  });

  it('answers an upload 503 with the cause in words, changes nothing, and leaves no temporary file', async () => {
    const put = await app.inject({
      method: 'PUT',
      url: '/v1.0/me/photo/$value',
      headers: { ...bearer(ownerToken), 'content-type': 'image/jpeg' },
      payload: await solidJpeg([200, 30, 30], 300),
    });
    expect(put.statusCode).toBe(503);
    expect(put.headers['retry-after']).toBeDefined();
    expect(put.json().error.code).toBe('serviceNotAvailable');
    expect(put.json().error.message).toContain(told);
    expect(await tempFilesUnder(path.join(store.dataDir, 'photos'))).toEqual([]);
    // The log names the real cause.
    const logged = lines.map((line) => JSON.parse(line) as { id?: string; err?: { code?: string } });
    expect(logged.some((entry) => entry.id === id && entry.err?.code === code)).toBe(true);

    const after = await app.inject({ url: '/v1.0/me/photo/$value', headers: bearer(ownerToken) });
    expect(after.statusCode).toBe(200);
    expect(after.rawPayload.equals(before)).toBe(true);
  });

  it('keeps serving the current pictures, to colleagues and to the owner', async () => {
    const url = `/_layouts/15/userphoto.aspx?size=L&accountname=${owner.upn}`;
    const seen = await app.inject({ url, headers: bearer(colleagueToken) });
    expect(seen.statusCode).toBe(200);
    expect(seen.headers['content-type']).toBe('image/jpeg');
    const own = await app.inject({ url, headers: bearer(ownerToken) });
    expect(own.statusCode).toBe(200);
    expect(own.rawPayload.equals(seen.rawPayload)).toBe(true);
  });

  it("names the cause in the log when the owner's own view cannot sync a new photo, and still serves the kept one", async () => {
    const url = `/_layouts/15/userphoto.aspx?size=L&accountname=${owner.upn}`;
    const kept = await app.inject({ url, headers: bearer(colleagueToken) });
    files.failWith = undefined;
    await giveMailPhoto(services, owner, await solidJpeg([30, 30, 200], 300));
    files.failWith = code;
    const own = await app.inject({ url, headers: bearer(ownerToken) });
    expect([own.statusCode, own.headers['x-photosync-sync']]).toEqual([200, 'failed']);
    expect(own.rawPayload.equals(kept.rawPayload)).toBe(true);
    const logged = lines.map((line) => JSON.parse(line) as { msg: string; code?: string; user?: string });
    const told = logged.find((entry) => entry.msg.startsWith('sync failed: '));
    expect(told).toMatchObject({ code, user: owner.upn });
    expect(told?.msg).toContain(words);
  });

  it('is named at start-up, which still opens so the stored pictures are served', async () => {
    const startup = logLines();
    const again = await openTestServices(store, {}, { blobFiles: files, log: startup.log });
    await again.close();
    const named = startup.lines.map((line) => JSON.parse(line) as { msg: string; code?: string });
    expect(named.some((entry) => entry.code === code && entry.msg.includes(words))).toBe(true);
    expect(await tempFilesUnder(path.join(store.dataDir, 'photos'))).toEqual([]);
  });
});

describe('temporary files of writes that never finished', () => {
  it("are removed by the sweep (the server's, once it listens); one of a writer still running is left alone", async () => {
    const store = await createTestStore('sqlite');
    try {
      const folder = path.join(store.dataDir, 'photos', 'mail', 'someone');
      await fs.mkdir(folder, { recursive: true });
      // A pid above Linux's pid_max: a writer that cannot be running.
      const orphan = path.join(folder, `a.jpg.4194305.${Date.now()}.tmp`);
      const live = path.join(folder, `b.jpg.${process.pid}.${Date.now()}.tmp`);
      await fs.writeFile(orphan, 'half a picture');
      await fs.writeFile(live, 'a picture being written');
      const services = await openTestServices(store);
      try {
        // Opening the store does not walk the folder: that is the sweep's work, after listening.
        await expect(fs.access(orphan)).resolves.toBeUndefined();
        const dry = await sweepOrphanedBlobs(
          { db: services.database.db, blobs: services.blobs, photosDir: path.join(store.dataDir, 'photos') },
          { minAgeMs: 60 * 60_000, apply: false },
        );
        expect(dry.tempFilesRemoved).toBe(0);
        await expect(fs.access(orphan)).resolves.toBeUndefined();
        const report = await sweepOrphanedBlobs(
          { db: services.database.db, blobs: services.blobs, photosDir: path.join(store.dataDir, 'photos') },
          { minAgeMs: 60 * 60_000, apply: true },
        );
        expect(report.tempFilesRemoved).toBe(1);
      } finally {
        await services.close();
      }
      await expect(fs.access(orphan)).rejects.toThrow();
      await expect(fs.access(live)).resolves.toBeUndefined();
    } finally {
      await store.drop();
    }
  });
});

describe('a SQLite database that cannot grow (SQLITE_FULL)', () => {
  it('names the full database when SQLite has rolled the transaction back itself', async () => {
    const store = await createTestStore('sqlite');
    const services = await openTestServices(store);
    try {
      const { db } = services.database;
      await sql`create table filler (bytes blob)`.execute(db);
      const pages = (await sql<{ page_count: number }>`pragma page_count`.execute(db)).rows[0];
      await sql.raw(`pragma max_page_count = ${pages?.page_count ?? 1}`).execute(db);
      // Many pages at once: SQLite gives up the whole transaction, not only the statement.
      const writing = db.transaction().execute(async (trx) => {
        await sql`insert into filler values (zeroblob(400000))`.execute(trx);
      });
      await expect(writing).rejects.toMatchObject({ code: 'SQLITE_FULL' });
      expect(storageFaultOf(await writing.catch((error: unknown) => error))).toBe('full');
      // The database goes on working once it may grow again.
      await sql.raw('pragma max_page_count = 1073741823').execute(db);
      await db.transaction().execute(async (trx) => {
        await sql`insert into filler values (zeroblob(10))`.execute(trx);
      });
    } finally {
      await services.close();
      await store.drop();
    }
  });

  it("still serves the owner's own L picture when the sync cannot record itself, and names the cause", async () => {
    const store = await createTestStore('sqlite');
    const { lines, log } = logLines();
    const services = await openTestServices(store, { PHOTOSYNC_RECHECK_SECONDS: '0' }, { log });
    const app = await buildApp(services);
    try {
      const owner = await userWithPicture(services);
      const token = await userToken(services, owner);
      const url = `/_layouts/15/userphoto.aspx?size=L&accountname=${owner.upn}`;
      expect((await app.inject({ url, headers: bearer(token) })).statusCode).toBe(200);
      // SQLite's own limit: the file may not grow by one page more, as on a full disk.
      const pages = (await sql<{ page_count: number }>`pragma page_count`.execute(services.database.db)).rows[0];
      await sql.raw(`pragma max_page_count = ${pages?.page_count ?? 1}`).execute(services.database.db);

      // Each new mail photo's sync records an attempt of its own (repeated checks share one row),
      // until the file's pages are full; the view then still gets the picture the sites have: the
      // one before, or the new one when its switch was committed and only the record failed.
      let unrecorded = 0;
      for (let i = 0; i < 400 && unrecorded === 0; i++) {
        await giveMailPhoto(services, owner, await solidJpeg([i % 250, 40, 200], 96));
        const response = await app.inject({ url, headers: bearer(token) });
        expect(response.statusCode).toBe(200);
        if (response.headers['x-photosync-sync'] === 'failed') {
          unrecorded++;
          const sites = await getRendition(services.database.db, owner.id, 'L');
          const bytes = await services.blobs.get(sites!.blobKey);
          expect(response.rawPayload.equals(bytes!)).toBe(true);
        }
      }
      expect(unrecorded).toBe(1);
      const logged = lines.map((line) => JSON.parse(line) as { msg: string; code?: string });
      expect(logged.some((entry) => entry.code === 'SQLITE_FULL' && entry.msg.includes('sync not recorded'))).toBe(
        true,
      );
    } finally {
      await app.close();
      await services.close();
      await store.drop();
    }
  });
});

describe.runIf(inject('postgresUrl'))('PostgreSQL closing an idle connection (a restart, a failover, a reaper)', () => {
  it('is named in the log, and the server goes on with a new connection', async () => {
    const store = await createTestStore('postgres');
    const { lines, log } = logLines();
    const services = await openTestServices(store, {}, { log });
    try {
      const { db } = services.database;
      const user = await userWithPicture(services);
      // The connection that answers goes back to the pool, idle; the server then ends it.
      const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db);
      await adminQuery(inject('postgresUrl')!, `select pg_terminate_backend(${Number(rows[0]?.pid)})`);
      await vi.waitFor(() => expect(lines.join('')).toContain('PostgreSQL closed an idle connection'));
      expect(JSON.parse(lines.find((line) => line.includes('idle connection'))!)).toMatchObject({
        level: 40,
        code: '57P01',
      });
      expect((await getRendition(db, user.id, 'L'))?.side).toBe(300);
    } finally {
      await services.close();
      await store.drop();
    }
  });
});
