import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listAudit } from '../src/admin/audit.js';
import { buildApp, type App } from '../src/app.js';
import type { DirectoryUser } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import { getMailPhoto } from '../src/mail/photo-store.js';
import { bearer, userToken } from './support/apps.js';
import { runCommand } from './support/cli.js';
import { startServe } from './support/serve-process.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import { sql } from 'kysely';
import { BLOB_REFERENCES } from '../src/storage/blob-references.js';
import { LATEST_MIGRATION } from '../src/storage/database.js';
import {
  adminQuery,
  createTestStore,
  describeEachDialect,
  openTestServices,
  type TestStore,
} from './support/services.js';

const BIN = path.resolve('bin/photosync.js');

// `photosync backup` of a running system (pictures changing while it copies), restored into an
// empty place, started, and asked for the same pictures with the same credentials.

async function withPicture(services: Services, rgb: [number, number, number]): Promise<DirectoryUser> {
  const user = await makeUser(services);
  await giveMailPhoto(services, user, await solidJpeg(rgb, 320));
  expect((await services.sync.sync(user, 'admin')).outcome).toBe('synced');
  return user;
}

const pictureUrl = (user: DirectoryUser, size: 'S' | 'M' | 'L') =>
  `/_layouts/15/userphoto.aspx?size=${size}&accountname=${user.upn}`;

/** Where a restore goes: an empty data folder and, on PostgreSQL, a new database with the same schema name. */
async function emptyPlaceLike(store: TestStore): Promise<TestStore & { restoreEnv: Record<string, string> }> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-restore-'));
  const restoreEnv: Record<string, string> = { PHOTOSYNC_DATA_DIR: dataDir, PHOTOSYNC_DEMO: 'false' };
  if (store.dialect === 'sqlite' || !store.databaseUrl || !store.schema) {
    return { ...store, dataDir, restoreEnv, drop: () => fs.rm(dataDir, { recursive: true, force: true }) };
  }
  const admin = store.databaseUrl;
  const database = `restore_${randomBytes(5).toString('hex')}`;
  await adminQuery(admin, `create database ${database}`);
  const url = new URL(admin);
  url.pathname = `/${database}`;
  const withSchema = new URL(url);
  withSchema.searchParams.set('options', `-c search_path=${store.schema}`);
  restoreEnv.DATABASE_URL = withSchema.toString();
  return {
    ...store,
    dataDir,
    databaseUrl: url.toString(),
    restoreEnv,
    drop: async () => {
      await adminQuery(admin, `drop database ${database} with (force)`);
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

describeEachDialect('photosync backup and restore', (dialect) => {
  let store: TestStore;
  let services: Services;
  let app: App;
  const work = path.join(os.tmpdir(), `photosync-backups-${randomBytes(4).toString('hex')}`);
  beforeAll(async () => {
    await fs.mkdir(work, { recursive: true });
    store = await createTestStore(dialect);
    services = await openTestServices(store);
    app = await buildApp(services);
  });
  afterAll(async () => {
    await app.close();
    await services.close();
    await store.drop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it.runIf(dialect === 'sqlite' || inject('postgresUrl'))(
    'backs up a running system and restores it into an empty place that serves the same pictures',
    async () => {
      const jane = await withPicture(services, [30, 90, 200]);
      const lee = await withPicture(services, [200, 60, 40]);
      const busy = await withPicture(services, [20, 160, 60]);
      const token = await userToken(services, jane);
      const served = new Map<string, Buffer>();
      for (const user of [jane, lee]) {
        for (const size of ['S', 'M', 'L'] as const) {
          const response = await app.inject({ url: pictureUrl(user, size), headers: bearer(token) });
          expect(response.statusCode).toBe(200);
          served.set(`${user.upn} ${size}`, response.rawPayload);
        }
      }

      // One user's picture keeps changing while the backup copies: old files are retired as it runs.
      let churning = true;
      const churn = (async () => {
        for (let i = 0; churning; i++) {
          await giveMailPhoto(services, busy, await solidJpeg([i % 250, 160, 60], 320));
          await services.sync.sync(busy, 'admin');
        }
      })();
      const file = path.join(work, `${dialect}.tar.gz`);
      const backedUp = await runCommand(['backup', file], store.env).finally(() => (churning = false));
      await churn;
      expect(backedUp.stderr).toBe('');
      expect(backedUp.code).toBe(0);
      expect(backedUp.stdout).toMatch(/^Backed up 3 users and /);

      const again = await runCommand(['backup', file], store.env);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('already exists');

      const target = await emptyPlaceLike(store);
      try {
        // A command run there first (checking the connection) leaves nothing in the way: on
        // PostgreSQL, in a schema made for photosync, it makes photosync's tables, which hold nobody.
        if (dialect === 'postgres') {
          await adminQuery(target.databaseUrl!, `create schema ${store.schema!}`);
          const status = await runCommand(['status'], target.restoreEnv);
          expect(status.stdout).toContain('0 users');
          // A newer photosync's table the backup does not name, hanging on one it does: still in the way of nothing.
          await adminQuery(
            target.restoreEnv.DATABASE_URL!,
            'create table newer_kept (user_id text references directory_users(id) on delete cascade)',
          );
        } else {
          expect((await runCommand(['status'], target.restoreEnv)).code).toBe(1);
        }
        const restored = await runCommand(['restore', file], target.restoreEnv);
        expect(restored.stderr).toBe('');
        expect(restored.code).toBe(0);
        expect(restored.stdout).toContain('Restored 3 users');

        const second = await openTestServices(target);
        const secondApp = await buildApp(second);
        try {
          expect((await secondApp.inject('/readyz')).json()).toEqual({ status: 'ready', database: 'ok', photos: 'ok' });
          // The restore is the restored database's newest audit entry, by the command line.
          const [last] = (await listAudit(second.database.db, { limit: 1 })).entries;
          expect(last).toMatchObject({
            action: 'restored',
            byCommandLine: true,
            detail: { file: `${dialect}.tar.gz`, users: 3 },
          });
          // The same credential (its row came along) sees the same bytes.
          for (const user of [jane, lee]) {
            for (const size of ['S', 'M', 'L'] as const) {
              const response = await secondApp.inject({ url: pictureUrl(user, size), headers: bearer(token) });
              expect(response.statusCode).toBe(200);
              expect(response.rawPayload.equals(served.get(`${user.upn} ${size}`) ?? Buffer.alloc(0))).toBe(true);
            }
          }
          // The user whose picture changed during the backup has one whole picture: every file there.
          const rows = await second.database.db
            .selectFrom('site_renditions')
            .select('blob_key')
            .where('user_id', '=', busy.id)
            .execute();
          expect(rows).toHaveLength(3);
          for (const { blob_key } of rows) expect(await second.blobs.get(blob_key)).toBeDefined();
          // Every file a row names came along: the masters, their kept renditions, the pictures.
          for (const { table, column } of BLOB_REFERENCES) {
            const named = await sql<{ key: string }>`select ${sql.ref(column)} as key from ${sql.table(table)}
              where ${sql.ref(column)} is not null`.execute(second.database.db);
            expect(named.rows.length, table).toBeGreaterThan(0);
            for (const { key } of named.rows) expect(await second.blobs.get(key), key).toBeDefined();
          }
          const busyPicture = await secondApp.inject({ url: pictureUrl(busy, 'L'), headers: bearer(token) });
          expect(busyPicture.statusCode).toBe(200);
          expect(busyPicture.headers['content-type']).toBe('image/jpeg');
        } finally {
          await secondApp.close();
          await second.close();
        }

        // A place that holds data is refused, and left as it was; --force replaces it.
        const refused = await runCommand(['restore', file], target.restoreEnv);
        expect(refused.code).toBe(1);
        expect(refused.stderr).toContain('add --force to replace what is there');
        const forced = await runCommand(['restore', file, '--force'], target.restoreEnv);
        expect(forced.stderr).toBe('');
        expect(forced.code).toBe(0);
      } finally {
        await target.drop();
      }
    },
    // Five command runs (two backups, three restores) and a sync loop: on a loaded machine each
    // run of the command takes seconds to start.
    90_000,
  );

  it('refuses a file that is not a backup, and a backup of the other database', async () => {
    const notes = path.join(work, `notes-${dialect}.txt`);
    await fs.writeFile(notes, 'not an archive');
    const place = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-restore-'));
    try {
      const env = { PHOTOSYNC_DATA_DIR: place, PHOTOSYNC_DEMO: 'false' };
      const refused = await runCommand(['restore', notes], env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(
        `${notes} is not a photosync backup: it is not a .tar.gz archive. Give the file photosync backup wrote.`,
      );
      // A pipe cannot be read twice (the archive's list, then its files): said, never waited on.
      const fifo = path.join(work, `fifo-${dialect}`);
      execFileSync('mkfifo', [fifo]);
      const piped = await runCommand(['restore', fifo], env);
      expect([piped.code, piped.stderr]).toEqual([1, expect.stringContaining(`${fifo} is not a regular file`)]);
      // Said before anything of a data folder that holds data: no --force is offered for it.
      const busy = await runCommand(['restore', notes], { ...env, PHOTOSYNC_DATA_DIR: work });
      expect([busy.code, busy.stderr]).toEqual([1, expect.stringContaining('is not a photosync backup')]);
      expect(busy.stderr).not.toContain('--force');
      const folder = await runCommand(['restore', work], env);
      expect([folder.code, folder.stderr]).toEqual([1, expect.stringContaining(`${work} is a folder, not a file`)]);
      // Into a folder that does not exist yet: refused, it is not made.
      const newPlace = path.join(place, 'new');
      expect((await runCommand(['restore', notes], { ...env, PHOTOSYNC_DATA_DIR: newPlace })).code).toBe(1);
      const missing = await runCommand(['restore', path.join(work, 'nothing.tar.gz')], env);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('There is no file');
      if (dialect === 'postgres') {
        const file = path.join(work, 'pg-only.tar.gz');
        expect((await runCommand(['backup', file], store.env)).code).toBe(0);
        const listed = execFileSync('tar', ['xzf', file, '-O', 'photosync-backup.json'], { encoding: 'utf8' });
        expect(JSON.parse(listed).migrations.at(-1)).toBe(LATEST_MIGRATION);
        const wrong = await runCommand(['restore', file], env);
        expect(wrong.code).toBe(1);
        expect(wrong.stderr).toContain('set DATABASE_URL to the database to restore it into');
      }
      expect(await fs.readdir(place)).toEqual([]);
    } finally {
      await fs.rm(place, { recursive: true, force: true });
    }
  });
});

it('without pg_dump on PATH, a PostgreSQL backup says what to install', async () => {
  const url = inject('postgresUrl');
  if (!url) return;
  const store = await createTestStore('postgres');
  try {
    const services = await openTestServices(store);
    await services.close();
    const file = path.join(os.tmpdir(), `photosync-nopg-${randomBytes(4).toString('hex')}.tar.gz`);
    const result = await runCommand(['backup', file], { ...store.env, PATH: '/nonexistent' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('pg_dump is not on PATH');
    await expect(fs.access(file)).rejects.toThrow();
  } finally {
    await store.drop();
  }
});

describe('a restore --force killed part-way [sqlite]', () => {
  /** The users' names and, for each, that all three of their site files are there and are pictures. */
  async function wholeState(store: TestStore): Promise<string[]> {
    const services = await openTestServices(store);
    try {
      const names = [];
      for (const user of await services.database.db.selectFrom('directory_users').select(['id', 'upn']).execute()) {
        const rows = await services.database.db
          .selectFrom('site_renditions')
          .select('blob_key')
          .where('user_id', '=', user.id)
          .execute();
        expect(rows, user.upn).toHaveLength(3);
        for (const { blob_key } of rows) expect(await services.blobs.get(blob_key), blob_key).toBeDefined();
        names.push(user.upn);
      }
      return names.sort();
    } finally {
      await services.close();
    }
  }

  it('leaves the old whole photosync or the restored one, and the next restore completes', async () => {
    const work = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-restore-crash-'));
    const backedUp = await createTestStore('sqlite');
    const place = await createTestStore('sqlite');
    try {
      const source = await openTestServices(backedUp);
      await withPicture(source, [30, 90, 200]);
      await withPicture(source, [200, 60, 40]);
      await source.close();
      const file = path.join(work, 'backup.tar.gz');
      expect((await runCommand(['backup', file], backedUp.env)).code).toBe(0);
      const restored = await wholeState(backedUp);

      const current = await openTestServices(place);
      await withPicture(current, [20, 160, 60]);
      await current.close();
      const old = await wholeState(place);

      const env = { ...place.env, NODE_ENV: 'test' };
      for (const [point, expected] of [
        ['restore-after-photos', old],
        ['restore-before-switch', old],
        ['restore-after-switch', restored],
      ] as const) {
        const killed = await new Promise<NodeJS.Signals | number | null>((resolve, reject) => {
          const child = spawn(process.execPath, [BIN, 'restore', file, '--force'], {
            env: { PATH: process.env.PATH, ...env, PHOTOSYNC_FAULT_INJECTION: point },
            stdio: 'ignore',
          });
          child.on('error', reject);
          child.on('exit', (code, signal) => resolve(signal ?? code));
        });
        expect(killed, point).toBe('SIGKILL');
        expect(await wholeState(place), point).toEqual(expected);
      }
      const done = await runCommand(['restore', file, '--force'], place.env);
      expect(done.stderr).toBe('');
      expect(await wholeState(place)).toEqual(restored);
      // Nothing of the old photosync or of the interrupted restores is left behind.
      const files = async (dir: string) =>
        (await fs.readdir(path.join(dir, 'photos'), { recursive: true, withFileTypes: true }))
          .filter((entry) => entry.isFile())
          .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
          .sort();
      expect(await files(place.dataDir)).toEqual(await files(backedUp.dataDir));
      expect((await fs.readdir(place.dataDir)).filter((name) => name.startsWith('.photosync-restore-'))).toEqual([]);
    } finally {
      await backedUp.drop();
      await place.drop();
      await fs.rm(work, { recursive: true, force: true });
    }
  });
});

it('restore --force refuses a data folder a running server is using, and leaves it serving [sqlite]', async () => {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-restore-live-'));
  const backedUp = await createTestStore('sqlite');
  const place = await createTestStore('sqlite');
  try {
    const source = await openTestServices(backedUp);
    await withPicture(source, [30, 90, 200]);
    await source.close();
    const file = path.join(work, 'backup.tar.gz');
    expect((await runCommand(['backup', file], backedUp.env)).code).toBe(0);

    const current = await openTestServices(place);
    const jane = await withPicture(current, [20, 160, 60]);
    const token = await userToken(current, jane);
    await current.close();
    const server = await startServe(place.env);
    try {
      const picture = () =>
        fetch(`${server.url}/v1.0/users/${jane.upn}/photo/$value`, { headers: bearer(token) }).then((r) => r.status);
      expect(await picture()).toBe(200);
      // The server is idle: nothing is being read or written while the restore runs.
      const refused = await runCommand(['restore', file, '--force'], place.env);
      expect(refused.stderr).toContain('is in use: stop photosync serve, then restore');
      expect(refused.code).toBe(1);
      expect(await picture()).toBe(200);
    } finally {
      await server.stop();
    }
  } finally {
    await backedUp.drop();
    await place.drop();
    await fs.rm(work, { recursive: true, force: true });
  }
});

it.runIf(inject('postgresUrl'))(
  'restore --force refuses a PostgreSQL schema a running server is using, and leaves it serving [postgres]',
  async () => {
    const work = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-restore-live-'));
    const place = await createTestStore('postgres');
    try {
      const current = await openTestServices(place);
      const jane = await withPicture(current, [20, 160, 60]);
      const token = await userToken(current, jane);
      await current.close();
      const file = path.join(work, 'backup.tar.gz');
      expect((await runCommand(['backup', file], place.env)).code).toBe(0);
      // The server's search_path names a schema that does not exist first: it works in the next
      // one, the same schema as the restore's, however the two URLs spell it.
      const serverUrl = new URL(place.env.DATABASE_URL!);
      serverUrl.searchParams.set(
        'options',
        `-c search_path=nowhere_${randomBytes(4).toString('hex')},${place.schema!}`,
      );
      const server = await startServe({ ...place.env, DATABASE_URL: serverUrl.toString() });
      try {
        const picture = () =>
          fetch(`${server.url}/v1.0/users/${jane.upn}/photo/$value`, { headers: bearer(token) }).then((r) => r.status);
        expect(await picture()).toBe(200);
        const refused = await runCommand(['restore', file, '--force'], place.env);
        expect(refused.stderr).toContain('is in use by photosync');
        expect(refused.stderr).toContain('stop photosync serve');
        expect(refused.code).toBe(1);
        expect(await picture()).toBe(200);
      } finally {
        await server.stop();
      }
      // Stopped, the same restore goes through.
      const forced = await runCommand(['restore', file, '--force'], place.env);
      expect(forced.stderr).toBe('');
      expect(forced.code).toBe(0);
    } finally {
      await place.drop();
      await fs.rm(work, { recursive: true, force: true });
    }
  },
);

it.runIf(inject('postgresUrl'))(
  'restore refuses a schema named otherwise than the backup’s, even with --force, and changes neither [postgres]',
  async () => {
    const work = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-restore-schema-'));
    const source = await createTestStore('postgres');
    const other = await createTestStore('postgres');
    try {
      const sourceServices = await openTestServices(source);
      const jane = await withPicture(sourceServices, [20, 160, 60]);
      await sourceServices.close();
      const otherServices = await openTestServices(other);
      const lee = await withPicture(otherServices, [200, 60, 40]);
      await otherServices.close();
      const file = path.join(work, 'backup.tar.gz');
      expect((await runCommand(['backup', file], source.env)).code).toBe(0);

      // pg_restore would put the dump back under its own schema's name: with --force it would have
      // replaced the source's tables while saying it restored into the other schema.
      for (const args of [
        ['restore', file],
        ['restore', file, '--force'],
      ]) {
        const refused = await runCommand(args, other.env);
        expect(refused.stderr).toContain(`This backup holds the schema ${source.schema!}`);
        expect(refused.stderr).toContain(`works in the schema ${other.schema!}`);
        expect(refused.stderr).toContain(`options=-c%20search_path%3D${source.schema!}`);
        expect(refused.stderr).toContain('Nothing was changed.');
        expect(refused.code).toBe(1);
      }
      // An archive whose manifest names the other schema (changed by hand) is refused, not trusted.
      const unpacked = path.join(work, 'unpacked');
      await fs.mkdir(unpacked);
      execFileSync('tar', ['-xzf', file, '-C', unpacked]);
      const manifestFile = path.join(unpacked, 'photosync-backup.json');
      const manifest = JSON.parse(await fs.readFile(manifestFile, 'utf8')) as Record<string, unknown>;
      expect(manifest.schema).toBe(source.schema);
      // An empty name counts as none: the dump's own schema is then checked, as for an older backup.
      for (const [named, archive, said] of [
        [other.schema!, 'other.tar.gz', 'is not a whole photosync backup'],
        ['', 'empty.tar.gz', `This backup holds the schema ${source.schema!}`],
      ] as const) {
        await fs.writeFile(manifestFile, JSON.stringify({ ...manifest, schema: named }));
        execFileSync('tar', ['-czf', path.join(work, archive), '-C', unpacked, '.']);
        const tampered = await runCommand(['restore', path.join(work, archive), '--force'], other.env);
        expect(tampered.stderr).toContain(said);
        expect(tampered.stderr).toContain('Nothing was changed.');
        expect(tampered.code).toBe(1);
      }
      const users = async (store: TestStore) =>
        await adminQuery(store.databaseUrl!, `select upn from ${store.schema!}.directory_users order by upn`);
      expect(await users(source)).toEqual([{ upn: jane.upn }]);
      expect(await users(other)).toEqual([{ upn: lee.upn }]);

      // In a new database, the backup's schema first in the search_path (not made yet; spelt
      // without quotes in another letter case, which PostgreSQL reads as the same name) is where
      // it is restored, beside the public schema that follows it.
      const database = `restore_${randomBytes(5).toString('hex')}`;
      await adminQuery(source.databaseUrl!, `create database ${database}`);
      try {
        const url = new URL(source.databaseUrl!);
        url.pathname = `/${database}`;
        url.searchParams.set('options', `-c search_path=${source.schema!.toUpperCase()},public`);
        const restored = await runCommand(['restore', file], {
          ...other.env,
          DATABASE_URL: url.toString(),
          PHOTOSYNC_DATA_DIR: work,
        });
        expect(restored.stderr).toBe('');
        expect(restored.code).toBe(0);
        const copy = new URL(url);
        copy.search = '';
        expect(await adminQuery(copy.toString(), `select upn from ${source.schema!}.directory_users`)).toEqual([
          { upn: jane.upn },
        ]);
      } finally {
        await adminQuery(source.databaseUrl!, `drop database ${database} with (force)`);
      }
    } finally {
      await source.drop();
      await other.drop();
      await fs.rm(work, { recursive: true, force: true });
    }
  },
);

it.runIf(inject('postgresUrl'))(
  'backs up and restores a schema whose name needs quotes (capitals and a space) [postgres]',
  async () => {
    const admin = inject('postgresUrl')!;
    const work = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-restore-quoted-'));
    const schema = `Photos ${randomBytes(4).toString('hex')}`;
    const databases = [`quoted_${randomBytes(5).toString('hex')}`, `quoted_${randomBytes(5).toString('hex')}`];
    const urlOf = (database: string, searchPath: string) => {
      const url = new URL(admin);
      url.pathname = `/${database}`;
      // libpq splits options at spaces: the one in the name is escaped.
      url.searchParams.set('options', `-c search_path=${searchPath.replaceAll(' ', '\\ ')}`);
      return url.toString();
    };
    const quoted = `"${schema}"`;
    try {
      for (const database of databases) await adminQuery(admin, `create database ${database}`);
      await adminQuery(urlOf(databases[0]!, 'public'), `create schema ${quoted}`);
      const source = { PHOTOSYNC_DATA_DIR: path.join(work, 'a'), DATABASE_URL: urlOf(databases[0]!, quoted) };
      const added = await runCommand(['users', 'add', 'bo@example.com', '--name', 'Bo'], source);
      expect(added.code, added.stderr).toBe(0);
      const file = path.join(work, 'backup.tar.gz');
      const backedUp = await runCommand(['backup', file], source);
      expect(backedUp.stderr).toBe('');
      expect(backedUp.code).toBe(0);

      const target = { PHOTOSYNC_DATA_DIR: path.join(work, 'b'), DATABASE_URL: urlOf(databases[1]!, 'public') };
      const refused = await runCommand(['restore', file], target);
      expect(refused.stderr).toContain(
        `This backup holds the schema ${schema}, and DATABASE_URL works in the schema public.`,
      );
      expect(refused.stderr).toContain(`make ${quoted} the first schema`);
      expect(refused.stderr).toContain(encodeURIComponent(`-c search_path=${quoted.replaceAll(' ', '\\ ')}`));
      expect(refused.code).toBe(1);
      const restored = await runCommand(['restore', file], { ...target, DATABASE_URL: urlOf(databases[1]!, quoted) });
      expect(restored.stderr).toBe('');
      expect(restored.code).toBe(0);
      expect(await adminQuery(urlOf(databases[1]!, 'public'), `select upn from ${quoted}.directory_users`)).toEqual([
        { upn: 'bo@example.com' },
      ]);
    } finally {
      for (const database of databases) await adminQuery(admin, `drop database if exists ${database} with (force)`);
      await fs.rm(work, { recursive: true, force: true });
    }
  },
);

it('a backup killed part-way leaves nothing behind once the next backup runs beside it [sqlite]', async () => {
  const store = await createTestStore('sqlite');
  const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-backup-killed-'));
  try {
    const services = await openTestServices(store);
    await withPicture(services, [30, 90, 200]);
    await services.close();
    const killed = await new Promise<NodeJS.Signals | number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, 'backup', path.join(folder, 'monday.tar.gz')], {
        env: {
          PATH: process.env.PATH,
          ...store.env,
          NODE_ENV: 'test',
          PHOTOSYNC_FAULT_INJECTION: 'backup-before-archive',
        },
        stdio: 'ignore',
      });
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve(signal ?? code));
    });
    expect(killed).toBe('SIGKILL');
    // What it staged (a copy of the database and the photos) is still there...
    expect(await fs.readdir(folder)).toHaveLength(1);
    const next = await runCommand(['backup', path.join(folder, 'tuesday.tar.gz')], store.env);
    expect(next.stderr).toBe('');
    expect(next.code).toBe(0);
    // ...until the next backup into the same folder, which removes it.
    expect(await fs.readdir(folder)).toEqual(['tuesday.tar.gz']);
  } finally {
    await store.drop();
    await fs.rm(folder, { recursive: true, force: true });
  }
});

it('a backup into a folder that does not exist says so, and is no bug [sqlite]', async () => {
  const store = await createTestStore('sqlite');
  try {
    await (await openTestServices(store)).close();
    const missing = path.join(store.dataDir, 'no-such-folder');
    const result = await runCommand(['backup', path.join(missing, 'nightly.tar.gz')], store.env);
    expect(result.stderr).not.toContain('Unexpected error');
    expect(result.stderr).toContain(`There is no folder ${missing}`);
    expect(result.code).toBe(1);
  } finally {
    await store.drop();
  }
});

it('refuses a backup archive cut short (a copy that did not finish), saying so, and leaves the place empty [sqlite]', async () => {
  const store = await createTestStore('sqlite');
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-restore-cut-'));
  try {
    const services = await openTestServices(store);
    await withPicture(services, [30, 90, 200]);
    await services.close();
    const file = path.join(work, 'backup.tar.gz');
    expect((await runCommand(['backup', file], store.env)).code).toBe(0);
    const whole = await fs.readFile(file);
    const cut = path.join(work, 'cut.tar.gz');
    await fs.writeFile(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    const place = path.join(work, 'place');
    const result = await runCommand(['restore', cut], { PHOTOSYNC_DATA_DIR: place, PHOTOSYNC_DEMO: 'false' });
    expect(result.stderr).not.toContain('Unexpected error');
    expect(result.stderr).toContain(`${cut} is a damaged backup: it ends too soon`);
    expect(result.stderr).toContain('Nothing was changed.');
    expect(result.code).toBe(1);
    // The folder the restore would have made is not left behind.
    await expect(fs.access(place)).rejects.toThrow();
  } finally {
    await store.drop();
    await fs.rm(work, { recursive: true, force: true });
  }
});

it('a backup or a database a newer photosync made is refused before anything changes, saying which version it needs [sqlite]', async () => {
  const store = await createTestStore('sqlite');
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-newer-'));
  const tar = (args: string[]) => execFileSync('tar', args, { stdio: 'ignore' });
  const FUTURE = '2099-01-01-01-from-the-future';
  try {
    const services = await openTestServices(store);
    const kept = await withPicture(services, [20, 160, 90]);
    await services.close();
    const good = path.join(work, 'good.tar.gz');
    expect((await runCommand(['backup', good], store.env)).code).toBe(0);
    const manifest = JSON.parse(
      execFileSync('tar', ['xzf', good, '-O', 'photosync-backup.json'], { encoding: 'utf8' }),
    );
    expect(manifest.migrations.at(-1)).toBe(LATEST_MIGRATION);

    const unpacked = path.join(work, 'unpacked');
    await fs.mkdir(unpacked);
    tar(['xzf', good, '-C', unpacked]);
    // The database of a newer version (as a backup of a manifest that does not say, an older format).
    const { default: SQLite } = await import('better-sqlite3');
    const staged = new SQLite(path.join(unpacked, 'photosync.sqlite'));
    staged
      .prepare('insert into photosync_migrations (name, timestamp) values (?, ?)')
      .run(FUTURE, new Date().toISOString());
    staged.close();
    const dbOnly = { ...manifest };
    delete dbOnly.migrations;
    await fs.writeFile(path.join(unpacked, 'photosync-backup.json'), JSON.stringify(dbOnly));
    const newer = path.join(work, 'newer.tar.gz');
    tar(['czf', newer, '-C', unpacked, ...(await fs.readdir(unpacked))]);
    // Only the manifest says it: a PostgreSQL backup is checked by it before pg_restore.
    const saysNewer = path.join(work, 'says-newer.tar.gz');
    const other = path.join(work, 'other');
    await fs.mkdir(other);
    tar(['xzf', good, '-C', other]);
    await fs.writeFile(
      path.join(other, 'photosync-backup.json'),
      JSON.stringify({ ...manifest, migrations: [...manifest.migrations, FUTURE] }),
    );
    tar(['czf', saysNewer, '-C', other, ...(await fs.readdir(other))]);

    const before = await fs.readFile(path.join(store.dataDir, 'photosync.sqlite'));
    for (const file of [newer, saysNewer]) {
      const refused = await runCommand(['restore', file, '--force'], store.env);
      expect(refused.code, refused.stderr).toBe(1);
      expect(refused.stderr).toContain('This backup was made by a newer version of photosync');
      expect(refused.stderr).toContain(`(${FUTURE}; this version's newest is ${LATEST_MIGRATION})`);
      expect(refused.stderr).toContain('Nothing was changed.');
      expect(await fs.readFile(path.join(store.dataDir, 'photosync.sqlite'))).toEqual(before);
    }
    const status = await runCommand(['status'], store.env);
    expect([status.code, status.stdout]).toEqual([0, expect.stringContaining(kept.upn)]);

    // The folder's own database upgraded by a newer version: this one does not open it, and says why.
    const live = new SQLite(path.join(store.dataDir, 'photosync.sqlite'));
    live
      .prepare('insert into photosync_migrations (name, timestamp) values (?, ?)')
      .run(FUTURE, new Date().toISOString());
    live.close();
    const opened = await runCommand(['status'], store.env);
    expect(opened.code).toBe(1);
    expect(opened.stderr).toContain('This database was upgraded by a newer version of photosync');
    expect(opened.stderr).toContain('Use that version of photosync or a newer one');
    expect(opened.stderr).not.toContain('corrupted migrations');
  } finally {
    await fs.rm(work, { recursive: true, force: true });
    await store.drop();
  }
});

it('a PostgreSQL backup a newer photosync made is refused by its dump, whatever its manifest says [postgres]', async () => {
  const url = inject('postgresUrl');
  if (!url) return;
  const store = await createTestStore('postgres');
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-newer-pg-'));
  const FUTURE = '2099-01-01-01-from-the-future';
  const query = (text: string) => adminQuery(store.env.DATABASE_URL!, text);
  try {
    const services = await openTestServices(store);
    const kept = await makeUser(services);
    await services.close();
    const file = path.join(work, 'backup.tar.gz');
    expect((await runCommand(['backup', file], store.env)).code).toBe(0);
    const unpacked = path.join(work, 'unpacked');
    await fs.mkdir(unpacked);
    execFileSync('tar', ['xzf', file, '-C', unpacked]);
    // The dump of a database a newer version upgraded (this version's backup refuses to make one)...
    await query(`insert into photosync_migrations (name, timestamp) values ('${FUTURE}', 'x')`);
    const newer = await runCommand(['backup', path.join(work, 'refused.tar.gz')], store.env);
    expect([newer.code, newer.stderr]).toEqual([1, expect.stringContaining('Back it up with that version.')]);
    execFileSync('pg_dump', [
      '--format=custom',
      `--schema=${store.schema!}`,
      `--file=${path.join(unpacked, 'database.pgdump')}`,
      `--dbname=${url}`,
    ]);
    await query(`delete from photosync_migrations where name = '${FUTURE}'`);
    // ...with a manifest without the list, as an older backup's (or one edited): the dump still tells.
    const manifest = JSON.parse(await fs.readFile(path.join(unpacked, 'photosync-backup.json'), 'utf8'));
    delete manifest.migrations;
    await fs.writeFile(path.join(unpacked, 'photosync-backup.json'), JSON.stringify(manifest));
    const edited = path.join(work, 'edited.tar.gz');
    execFileSync('tar', ['czf', edited, '-C', unpacked, ...(await fs.readdir(unpacked))]);
    const later = await openTestServices(store);
    const added = await makeUser(later);
    await later.close();

    const refused = await runCommand(['restore', edited, '--force'], store.env);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toContain('This backup was made by a newer version of photosync');
    expect(refused.stderr).toContain('Nothing was changed.');
    const upns = (await query('select upn from directory_users')).map((row) => row.upn);
    expect(upns).toEqual(expect.arrayContaining([kept.upn, added.upn]));
    expect((await runCommand(['status'], store.env)).code).toBe(0);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
    await store.drop();
  }
});

it('a damaged database is named as damaged, in a backup of the folder and in an archive to restore [sqlite]', async () => {
  const store = await createTestStore('sqlite');
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-damaged-'));
  const place = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-restore-'));
  const tar = (args: string[]) =>
    new Promise<void>((resolve, reject) =>
      spawn('tar', args, { stdio: 'ignore' }).on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`tar ${code}`)),
      ),
    );
  try {
    const services = await openTestServices(store);
    await withPicture(services, [200, 40, 40]);
    await services.close();
    const good = path.join(work, 'good.tar.gz');
    const backup = await runCommand(['backup', good], store.env);
    expect(backup.code).toBe(0);
    expect(backup.stdout).toMatch(/^Backed up 1 user and \d+ photo files \(sqlite\) to /);

    // The archive's database overwritten with bytes that are no database.
    const unpacked = path.join(work, 'unpacked');
    await fs.mkdir(unpacked);
    await tar(['xzf', good, '-C', unpacked]);
    // Packed again from inside the folder, as people do (`tar czf ../b.tar.gz .`: entries named `./…`), it restores.
    const repacked = path.join(work, 'repacked.tar.gz');
    await tar(['czf', repacked, '-C', unpacked, '.']);
    const elsewhere = path.join(place, 'elsewhere');
    const fromRepacked = await runCommand(['restore', repacked], {
      PHOTOSYNC_DATA_DIR: elsewhere,
      PHOTOSYNC_DEMO: 'false',
    });
    expect(fromRepacked.stderr).toBe('');
    expect(fromRepacked.stdout).toContain('Restored 1 user ');
    await fs.rm(elsewhere, { recursive: true, force: true });

    await fs.writeFile(path.join(unpacked, 'photosync.sqlite'), 'garbage');
    const bad = path.join(work, 'bad.tar.gz');
    await tar(['czf', bad, '-C', unpacked, ...(await fs.readdir(unpacked))]);
    const restored = await runCommand(['restore', bad], { PHOTOSYNC_DATA_DIR: place, PHOTOSYNC_DEMO: 'false' });
    expect(restored.code).toBe(1);
    expect(restored.stderr).toContain('The database in the backup is damaged (SQLite: file is not a database)');
    expect(restored.stderr).not.toContain('a bug in photosync');
    expect(await fs.readdir(place)).toEqual([]);

    // The folder's own database damaged: the backup says so and leaves no archive.
    await fs.writeFile(path.join(store.dataDir, 'photosync.sqlite'), 'garbage');
    const again = path.join(work, 'again.tar.gz');
    const backedUp = await runCommand(['backup', again], store.env);
    expect(backedUp.code).toBe(1);
    expect(backedUp.stderr).toContain('is damaged (SQLite: file is not a database)');
    expect(backedUp.stderr).not.toContain('a bug in photosync');
    await expect(fs.access(again)).rejects.toThrow();
  } finally {
    await fs.rm(work, { recursive: true, force: true });
    await fs.rm(place, { recursive: true, force: true });
    await store.drop();
  }
});

it('a photo file the database names and the folder lacks is named, with whose it is, and no backup is made [sqlite]', async () => {
  const store = await createTestStore('sqlite');
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-lost-'));
  try {
    const services = await openTestServices(store);
    const user = await withPicture(services, [40, 160, 40]);
    const master = (await getMailPhoto(services.database.db, user.id))!;
    await services.close();
    await fs.rm(path.join(store.dataDir, 'photos', master.blobKey));

    const archive = path.join(work, 'b.tar.gz');
    const backup = await runCommand(['backup', archive], store.env);
    expect(backup.code).toBe(1);
    expect(backup.stderr).toContain(
      `1 photo file the database names is missing from the photos folder (${master.blobKey})`,
    );
    expect(backup.stderr).toContain(`of ${user.upn}`);
    expect(backup.stderr).not.toContain('kept changing');
    await expect(fs.access(archive)).rejects.toThrow();

    // Set again, the photo is whole and the backup is made.
    const again = await openTestServices(store);
    await giveMailPhoto(again, user, await solidJpeg([40, 160, 40], 320));
    await again.close();
    expect((await runCommand(['backup', archive], store.env)).code).toBe(0);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
    await store.drop();
  }
});
