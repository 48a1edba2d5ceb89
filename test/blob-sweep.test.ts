import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import { beforeAll, expect, it } from 'vitest';
import type { Services } from '../src/services.js';
import { getRendition } from '../src/sites/profiles.js';
import { BLOB_REFERENCES } from '../src/storage/blob-references.js';
import { sweepOrphanedBlobs } from '../src/storage/blob-sweeper.js';
import { runCommand } from './support/cli.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import { describeEachDialect, useTestServices, type TestStore } from './support/services.js';

// A crash between writing a picture's blobs and committing the rows that name them leaves blobs
// nobody names. The sweeper removes those once they are older than its safety window, and nothing
// else.

const BIN = path.resolve('bin/photosync.js');

function syncKilledAt(store: TestStore, upn: string, point: string): Promise<NodeJS.Signals | number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'sync', upn], {
      env: { PATH: process.env.PATH, ...store.env, NODE_ENV: 'test', PHOTOSYNC_FAULT_INJECTION: point },
      stdio: 'ignore',
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(signal ?? code));
  });
}

describeEachDialect('the blob sweeper', (dialect) => {
  const context = useTestServices(dialect);
  let services: Services;
  beforeAll(() => ({ services } = context));

  async function allKeys(): Promise<string[]> {
    const keys: string[] = [];
    for await (const batch of services.blobs.listKeys()) keys.push(...batch);
    return keys.sort();
  }

  /** Every key a row names: the masters, the kept renditions and the sites' pictures. */
  async function namedKeys(): Promise<string[]> {
    const db = services.database.db;
    const keys = await Promise.all([
      db.selectFrom('mail_photos').select('blob_key').execute(),
      db.selectFrom('mail_photo_renditions').select('blob_key').execute(),
      db.selectFrom('site_renditions').select('blob_key').execute(),
    ]);
    return keys
      .flat()
      .map((r) => r.blob_key)
      .filter((k): k is string => !!k)
      .sort();
  }

  it('removes what a crash before the commit left, only past the safety window, and only with --apply', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg([200, 30, 30], 96));
    await services.sync.sync(user, 'admin');
    await giveMailPhoto(services, user, await solidJpeg([30, 30, 200], 96));
    expect(await syncKilledAt(context.store, user.upn, 'before-commit')).toBe('SIGKILL');
    expect(await syncKilledAt(context.store, user.upn, 'after-put-S')).toBe('SIGKILL');
    // The default window (60 min): all of them are too young. (Opening the store also removes the
    // temporary files the killed writers left, whose process is gone: they are not blobs.)
    const young = await runCommand(['maintenance', 'sweep', '--apply'], context.store.env);
    expect(young.stderr).toBe('');
    expect(young.stdout).toContain('Removed 0 of 0 unreferenced blobs');

    const named = await namedKeys();
    const orphans = (await allKeys()).filter((k) => !named.includes(k));
    if (services.blobs.kind === 'files') {
      // Three renditions from the first crash, at least one from the second.
      expect(orphans.length).toBeGreaterThanOrEqual(4);
      // A write that failed before its rename leaves its bytes aside.
      const stray = path.join(context.store.dataDir, 'photos', 'sites', 'stray.jpg.1.2.tmp');
      await fs.writeFile(stray, 'half a picture');
      orphans.push('sites/stray.jpg.1.2.tmp');
    } else {
      // In PostgreSQL the new blobs and the rows naming them are one statement: the crashes left
      // nothing behind. A blob nobody names (a write by hand, a restore) is still the sweeper's.
      expect(orphans).toEqual([]);
      const stray = `sites/${user.id}/stray-L.jpg`;
      await services.blobs.put(stray, Buffer.from('half a picture'));
      orphans.push(stray);
    }

    const env = { ...context.store.env, PHOTOSYNC_BLOB_SWEEP_MIN_AGE_MINUTES: '0' };
    const dry = await runCommand(['maintenance', 'sweep'], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`${orphans.length} unreferenced blob${orphans.length === 1 ? '' : 's'} written`);
    expect(dry.stdout).toContain('Nothing was removed: run with --apply');
    for (const key of orphans) expect(dry.stdout).toContain(key);
    for (const key of named) expect(dry.stdout).not.toContain(key);
    expect((await allKeys()).length).toBe(named.length + orphans.length);

    const applied = await runCommand(['maintenance', 'sweep', '--apply'], env);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain(`Removed ${orphans.length} of ${orphans.length} unreferenced blobs`);
    expect(await allKeys()).toEqual(named);
    for (const key of named) expect(await services.blobs.get(key)).toBeDefined();
    const clean = await runCommand(['maintenance', 'sweep'], env);
    expect(clean.stdout).toContain('No unreferenced blobs written more than 0 min ago');
    expect(clean.stdout).toContain('Nothing to remove.');
    expect(clean.stdout).not.toContain('--apply');

    // The pictures shown are untouched, and the next action completes the sync.
    expect((await services.sync.sync(user, 'sharepoint_tile')).outcome).toBe('synced');
    const large = await getRendition(services.database.db, user.id, 'L');
    expect(await services.blobs.get(large!.blobKey)).toBeDefined();
    const again = await sweepOrphanedBlobs(
      { db: services.database.db, blobs: services.blobs, photosDir: path.join(context.store.dataDir, 'photos') },
      { minAgeMs: 0, apply: true },
    );
    expect(again.orphans).toEqual([]);
  }, 120_000); // two command-line processes killed one after another

  it('asks the age of unnamed blobs only, and stops when told to', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg([30, 200, 30], 96));
    await services.sync.sync(user, 'admin');
    const stray = `sites/${user.id}/stray-M.jpg`;
    await services.blobs.put(stray, Buffer.from('half a picture'));
    const asked: string[] = [];
    const counting = {
      ...services.blobs,
      writtenBefore(keys: readonly string[], before: number) {
        asked.push(...keys);
        return services.blobs.writtenBefore(keys, before);
      },
    };
    const deps = { db: services.database.db, blobs: counting, photosDir: path.join(context.store.dataDir, 'photos') };
    const report = await sweepOrphanedBlobs(deps, { minAgeMs: 0, apply: false, now: Date.now() + 1000 });
    const named = await namedKeys();
    expect(report.examined).toBe((await allKeys()).length);
    expect(asked).toContain(stray);
    for (const key of named) expect(asked).not.toContain(key);
    expect(report.orphans.map((o) => o.key)).toContain(stray);

    // A server shutting down stops its sweep: nothing more is looked at or removed.
    const stopped = new AbortController();
    stopped.abort();
    const none = await sweepOrphanedBlobs(deps, { minAgeMs: 0, apply: true, signal: stopped.signal });
    expect(none).toMatchObject({ examined: 0, removed: 0, tempFilesRemoved: 0 });
    expect(await services.blobs.get(stray)).toBeDefined();
    await services.blobs.delete([stray]);
  });

  it('finds the rows naming a key by an index, not by reading the tables whole', async () => {
    // A start-up sweep of 100,000 users asks 600 times; without the indexes it took 40 s.
    const { db } = services.database;
    for (const { table, column } of BLOB_REFERENCES) {
      if (dialect === 'sqlite') {
        const plan = await sql<{
          detail: string;
        }>`explain query plan select ${sql.ref(column)} from ${sql.table(table)} where ${sql.ref(column)} in ('a', 'b')`.execute(
          db,
        );
        expect(plan.rows.map((r) => r.detail).join('; '), table).toMatch(/USING (COVERING )?INDEX/);
      } else {
        const indexes = await sql<{
          indexdef: string;
        }>`select indexdef from pg_indexes where schemaname = current_schema() and tablename = ${table}`.execute(db);
        expect(
          indexes.rows.some((r) => r.indexdef.endsWith(`(${column})`)),
          table,
        ).toBe(true);
      }
    }
  });

  it('names every column that holds a blob key in BLOB_REFERENCES', async () => {
    const tables = await services.database.db.introspection.getTables();
    // Each table and column once (the PostgreSQL introspector reads photosync's own schema only).
    const blobColumns = [
      ...new Set(
        tables
          .filter((t) => t.name !== 'storage_blobs')
          .flatMap((t) => t.columns.filter((c) => /blob/i.test(c.name)).map((c) => `${t.name}.${c.name}`)),
      ),
    ].sort();
    expect(blobColumns).toEqual(BLOB_REFERENCES.map((r) => `${r.table}.${r.column}`).sort());
  });
});
