import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { createSession } from '../src/directory/credentials.js';
import { SESSION_COOKIE } from '../src/http/auth.js';
import type { Services } from '../src/services.js';
import { attemptCount, listAttempts } from '../src/sync/history.js';
import { purgeHistory } from '../src/sync/retention.js';
import { corruptBlob, giveMailPhoto, giveMailPhotoAlone, makeUser, solidJpeg, tokenFor } from './support/factories.js';
import { describeEachDialect, useTestApp } from './support/services.js';

// The sync history keeps every attempt that changed something or failed, and counts repeated
// checks that changed nothing on one row, so it does not grow with every photo view.

const DAY_MS = 24 * 3600 * 1000;

describeEachDialect('sync history', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  beforeAll(() => ({ services, app } = context));

  const ownPhoto = (upn: string, token: string) =>
    app.inject({
      method: 'GET',
      url: `/_layouts/15/userphoto.aspx?size=L&accountname=${encodeURIComponent(upn)}`,
      headers: { authorization: `Bearer ${token}` },
    });

  it('counts repeated in-step views of the own photo on one row, and the console says how often and when', async () => {
    const user = await makeUser(services);
    const token = await tokenFor(services, user);
    await giveMailPhoto(services, user, await solidJpeg([200, 40, 40], 64));
    expect((await ownPhoto(user.upn, token)).headers['x-photosync-sync']).toBe('synced');
    for (let i = 0; i < 40; i++) {
      expect((await ownPhoto(user.upn, token)).headers['x-photosync-sync']).toBe('unchanged');
    }
    // An in-step check is answered before it is recorded: the last record may still be on its way.
    await services.sync.settle();
    const history = await listAttempts(services.database.db, user.id);
    expect(history.map((a) => [a.outcome, a.checks])).toEqual([
      ['unchanged', 40],
      ['synced', 1],
    ]);
    expect(attemptCount(history)).toBe(41);
    const [unchanged] = history;
    expect(unchanged!.lastAt).toBeGreaterThanOrEqual(unchanged!.startedAt);
    const rows = await services.database.db
      .selectFrom('sync_attempts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', user.id)
      .executeTakeFirstOrThrow();
    expect(Number(rows.n)).toBe(2);

    const admin = await makeUser(services, { isAdmin: true });
    // The console's pages take an administrator's session, not a token.
    const session = await createSession(services.database.db, admin.id, 60_000);
    const page = await app.inject({
      method: 'GET',
      url: `/admin/users/${encodeURIComponent(user.upn)}`,
      headers: { cookie: `${SESSION_COOKIE}=${session}` },
    });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('checked 40 times, last at');
    const api = await app.inject({
      method: 'GET',
      url: `/admin/api/users/${encodeURIComponent(user.upn)}`,
      headers: { authorization: `Bearer ${await tokenFor(services, admin)}` },
    });
    const detail = api.json<{ attempts: Array<{ outcome: string; checks: number; lastAt: number }> }>();
    expect(detail.attempts[0]).toMatchObject({ outcome: 'unchanged', checks: 40, lastAt: unchanged!.lastAt });
  });

  it("the console in Estonian writes an attempt's duration with a decimal comma", async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg([90, 40, 160], 64));
    expect((await services.sync.sync(user, 'sharepoint_tile')).outcome).toBe('synced');
    const admin = await makeUser(services, { isAdmin: true });
    const session = await createSession(services.database.db, admin.id, 60_000);
    const page = (language: string) =>
      app.inject({
        method: 'GET',
        url: `/admin/users/${encodeURIComponent(user.upn)}`,
        headers: { cookie: `${SESSION_COOKIE}=${session}`, 'accept-language': language },
      });
    const durations = (body: string) =>
      [...body.matchAll(/<td data-label="[^"]+" role="cell">([^<]*) ms<\/td>/g)].map((m) => m[1]);
    const [et] = durations((await page('et')).body);
    expect(et).toMatch(/^\d[\d\u00a0]*,\d$/);
    const [en] = durations((await page('en')).body);
    expect(en).toMatch(/^\d[\d,]*\.\d$/);
  });

  it('keeps every change and every failure as a row; a check after one starts a new count', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg([40, 200, 40], 64));
    await services.sync.sync(user, 'sharepoint_tile');
    for (let i = 0; i < 3; i++) await services.sync.sync(user, 'photo_request');
    await services.sync.sync(user, 'sharepoint_tile');
    await services.sync.sync(user, 'photo_request');
    // Kept without the sites' renditions, so the sync decodes the damaged master.
    const broken = await giveMailPhotoAlone(services, user, await solidJpeg([40, 40, 200], 64));
    await corruptBlob(services, broken.blobKey);
    for (let i = 0; i < 2; i++) expect((await services.sync.sync(user, 'sharepoint_tile')).outcome).toBe('failed');
    for (let i = 0; i < 3; i++) expect((await services.sync.sync(user, 'photo_request')).outcome).toBe('backing_off');
    await giveMailPhoto(services, user, await solidJpeg([90, 90, 90], 64));
    await services.sync.sync(user, 'photo_request');
    await services.sync.sync(user, 'photo_request');

    const history = await listAttempts(services.database.db, user.id);
    expect(history.map((a) => [a.trigger, a.outcome, a.checks]).reverse()).toEqual([
      ['sharepoint_tile', 'synced', 1],
      // Repeats since the last change are counted per trigger, outcome and ETags.
      ['photo_request', 'unchanged', 4],
      ['sharepoint_tile', 'unchanged', 1],
      ['sharepoint_tile', 'failed', 1],
      ['sharepoint_tile', 'failed', 1],
      ['photo_request', 'backing_off', 3],
      ['photo_request', 'synced', 1],
      ['photo_request', 'unchanged', 1],
    ]);
    expect(attemptCount(history)).toBe(13);
  });

  it('counts every one of many simultaneous checks', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg([120, 60, 200], 64));
    await services.sync.sync(user, 'photo_request');
    const results = await Promise.all(Array.from({ length: 40 }, () => services.sync.sync(user, 'photo_request')));
    expect(results.every((r) => r.outcome === 'unchanged')).toBe(true);
    const history = await listAttempts(services.database.db, user.id);
    expect(attemptCount(history)).toBe(41);
    // One instance writes a user's records in turn: the 40 are counted on one row, not one per
    // connection that raced (instances racing may start a second row, never one per view).
    expect(history.map((a) => [a.outcome, a.checks])).toEqual([
      ['unchanged', 40],
      ['synced', 1],
    ]);
  });

  it.skipIf(dialect === 'sqlite')(
    "a record held up by a lock holds up only its own user: the console's wait for gathered checks and others' syncs go on",
    async () => {
      const held = await makeUser(services);
      const other = await makeUser(services);
      await giveMailPhoto(services, held, await solidJpeg([200, 120, 40], 64));
      await services.sync.sync(held, 'admin');
      // Another connection holds the user's sync state row, so the next record of theirs waits.
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      const holder = services.database.db.transaction().execute(async (trx) => {
        await trx.selectFrom('sync_state').select('user_id').where('user_id', '=', held.id).forUpdate().execute();
        locked();
        await released;
      });
      await isLocked;
      const stuck = services.sync.sync(held, 'admin');
      await sleep(200);
      const within = (work: Promise<unknown>, ms: number) =>
        Promise.race([work.then(() => true), sleep(ms).then(() => false)]);
      expect(await within(services.sync.writeChecks(), 1000)).toBe(true);
      expect((await services.sync.sync(other, 'admin')).outcome).toBe('no_photo');
      release();
      await holder;
      expect((await stuck).outcome).toBe('unchanged');
    },
  );

  it('purges attempts last made before the retention period, in bounded batches, and nothing newer', async () => {
    const user = await makeUser(services);
    const now = Date.now();
    const db = services.database.db;
    const row = (at: number, outcome = 'synced') => ({
      user_id: user.id,
      trigger: 'photo_request',
      outcome,
      started_at: at,
      last_at: at,
      checks: 1,
      duration_ms: 1,
      etag_before: null,
      etag_after: null,
      error: null,
    });
    const old = Array.from({ length: 25 }, (_, i) => row(now - 500 * DAY_MS + i));
    // Started long ago, but checked again recently: it stays.
    const stillChecked = { ...row(now - 500 * DAY_MS, 'unchanged'), last_at: now - DAY_MS, checks: 7 };
    const recent = Array.from({ length: 5 }, (_, i) => row(now - 10 * DAY_MS + i));
    await db
      .insertInto('sync_attempts')
      .values([...old, stillChecked, ...recent])
      .execute();
    const count = async () => attemptCount(await listAttempts(db, user.id, 1000));

    expect(await purgeHistory(db, 400, now, { batch: 10, maxBatches: 2 })).toBe(20);
    expect(await purgeHistory(db, 400, now, { batch: 10 })).toBe(5);
    expect(await purgeHistory(db, 400, now, { batch: 10 })).toBe(0);
    const left = await listAttempts(db, user.id, 1000);
    expect(left).toHaveLength(6);
    expect(await count()).toBe(12);
    // 0 keeps everything.
    expect(await purgeHistory(db, 0, now + 1000 * DAY_MS)).toBe(0);
    expect(await listAttempts(db, user.id, 1000)).toHaveLength(6);
  });
});
