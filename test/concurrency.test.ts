import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryUser } from '../src/directory/users.js';
import { getMailPhoto } from '../src/mail/photo-store.js';
import type { Services } from '../src/services.js';
import { getRendition, getSiteProfile } from '../src/sites/profiles.js';
import { attemptCount, listAttempts } from '../src/sync/history.js';
import { closeTo, counterValue, giveMailPhoto, makeUser, meanColour, solidJpeg } from './support/factories.js';
import { describeEachDialect, testDialects, useTestServices } from './support/services.js';

// Many triggers at once, in one process and in three: one render per changed photo, every
// attempt in the history, and the sites end with the last mail photo.

const WORKER = path.resolve('test/support/trigger-worker.js');

/** The outcomes of a user's recorded attempts, counted. */
async function history(services: Services, user: DirectoryUser) {
  const attempts = await listAttempts(services.database.db, user.id, 100_000);
  const outcomes: Record<string, number> = {};
  for (const a of attempts) outcomes[a.outcome] = (outcomes[a.outcome] ?? 0) + a.checks;
  const rendered = attempts.filter((a) => a.outcome === 'synced').map((a) => a.etagAfter);
  return { total: attemptCount(attempts), outcomes, rendered };
}

/** The sites show exactly the user's current mail photo: ETag, and (unless told not to) pixels. */
async function expectInStepWith(services: Services, user: DirectoryUser, rgb: [number, number, number] | undefined) {
  const mail = await getMailPhoto(services.database.db, user.id);
  expect((await getSiteProfile(services.database.db, user.id))?.syncedEtag).toBe(mail?.etag);
  if (!rgb) return;
  for (const size of ['S', 'M', 'L'] as const) {
    const rendition = await getRendition(services.database.db, user.id, size);
    const bytes = await services.blobs.get(rendition!.blobKey);
    expect(closeTo(await meanColour(bytes!), rgb)).toBe(true);
  }
}

const shade = (i: number): [number, number, number] => [(i * 37) % 200, 80, 200 - ((i * 37) % 200)];

describeEachDialect('simultaneous triggers in one process', (dialect) => {
  const context = useTestServices(dialect);
  let services: Services;
  beforeAll(() => ({ services } = context));

  it('100 triggers for one user: one render per changed photo, every attempt recorded, the last photo wins', async () => {
    const user = await makeUser(services, { password: undefined });
    const renders = () => counterValue(services.metrics.renders);
    const start = await renders();

    await giveMailPhoto(services, user, await solidJpeg(shade(1), 96));
    const first = await Promise.all(Array.from({ length: 100 }, () => services.sync.sync(user, 'sharepoint_tile')));
    expect(first.filter((r) => r.outcome === 'synced')).toHaveLength(1);
    expect(first.filter((r) => r.outcome === 'unchanged')).toHaveLength(99);
    expect(await renders()).toBe(start + 1);

    // The photo changes while triggers are under way: the ones after the change must take it.
    const before = Array.from({ length: 50 }, () => services.sync.sync(user, 'onedrive_tile'));
    await giveMailPhoto(services, user, await solidJpeg(shade(2), 96));
    const after = Array.from({ length: 50 }, () => services.sync.sync(user, 'onedrive_tile'));
    const second = await Promise.all([...before, ...after]);
    expect(second.every((r) => ['synced', 'unchanged'].includes(r.outcome))).toBe(true);

    const { total, rendered } = await history(services, user);
    expect(total).toBe(200);
    // Every render is recorded as a sync, none of a photo twice.
    expect(await renders()).toBe(start + rendered.length);
    expect(new Set(rendered).size).toBe(rendered.length);
    await expectInStepWith(services, user, shade(2));
  });

  it('4 triggers for each of 50 users at once (200 in all): one render per user, every attempt recorded', async () => {
    const users = await Promise.all(Array.from({ length: 50 }, () => makeUser(services, { password: undefined })));
    for (const [i, user] of users.entries()) await giveMailPhoto(services, user, await solidJpeg(shade(i), 48));
    const start = await counterValue(services.metrics.renders);
    const results = await Promise.all(
      users.flatMap((user) => Array.from({ length: 4 }, () => services.sync.sync(user, 'sharepoint_tile'))),
    );
    expect(results.filter((r) => r.outcome === 'synced')).toHaveLength(50);
    expect(results.filter((r) => r.outcome === 'unchanged')).toHaveLength(150);
    expect(await counterValue(services.metrics.renders)).toBe(start + 50);
    for (const [i, user] of users.entries()) {
      expect((await history(services, user)).outcomes).toEqual({ synced: 1, unchanged: 3 });
      await expectInStepWith(services, user, i % 10 === 0 ? shade(i) : undefined);
    }
  });
});

interface WorkerReport {
  outcomes: Record<string, number>;
  renders: number;
  errors: string[];
}

/** Starts the workers, waits until each has its services open, then lets them all go at once. */
async function runWorkers(env: Record<string, string>, counts: number[], upns: string[]) {
  const workers = counts.map((count) =>
    spawn(process.execPath, [WORKER, String(count), ...upns], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const lines = workers.map((w) => readline.createInterface({ input: w.stdout })[Symbol.asyncIterator]());
  for (const line of lines) expect((await line.next()).value).toBe('ready');
  for (const worker of workers) worker.stdin.write('go\n');
  return Promise.all(lines.map(async (line) => JSON.parse(String((await line.next()).value)) as WorkerReport));
}

// Several instances share a database only on PostgreSQL (test/multi-process.test.ts covers
// processes sharing one SQLite file), so this runs where PostgreSQL is available.
describe.runIf(testDialects().includes('postgres'))('simultaneous triggers from three processes [postgres]', () => {
  const dialect = 'postgres';
  const context = useTestServices(dialect);

  it(
    '100 triggers for one user, and two per process for each of 50 users, from three processes: one render per user',
    { timeout: 120_000 },
    async () => {
      const { services, store } = context;
      const one = await makeUser(services, { password: undefined });
      const many = await Promise.all(Array.from({ length: 50 }, () => makeUser(services, { password: undefined })));
      await giveMailPhoto(services, one, await solidJpeg(shade(7), 64));
      for (const [i, user] of many.entries()) await giveMailPhoto(services, user, await solidJpeg(shade(i), 48));

      const single = await runWorkers(store.env, [34, 33, 33], [one.upn]);
      expect(single.flatMap((r) => r.errors)).toEqual([]);
      expect(single.reduce((n, r) => n + r.renders, 0)).toBe(1);
      expect((await history(services, one)).outcomes).toEqual({ synced: 1, unchanged: 99 });
      await expectInStepWith(services, one, shade(7));

      const spread = await runWorkers(
        store.env,
        [2, 2, 2],
        many.map((u) => u.upn),
      );
      expect(spread.flatMap((r) => r.errors)).toEqual([]);
      expect(spread.reduce((n, r) => n + r.renders, 0)).toBe(50);
      for (const [i, user] of many.entries()) {
        expect((await history(services, user)).outcomes).toEqual({ synced: 1, unchanged: 5 });
        await expectInStepWith(services, user, i % 10 === 0 ? shade(i) : undefined);
      }
    },
  );
});
