import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/directory/credentials.js';
import { deleteUser } from '../src/directory/revocation.js';
import type { DirectoryUser } from '../src/directory/users.js';
import type { App } from '../src/app.js';
import type { Services } from '../src/services.js';
import { getSiteProfile } from '../src/sites/profiles.js';
import { attemptCount, listAttempts } from '../src/sync/history.js';
import { listen } from './support/browser.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import {
  createTestStore,
  describeEachDialect,
  openTestServices,
  testDialects,
  type TestStore,
} from './support/services.js';

// The owner's view of their own L picture checks the mail photo first. A check that finds the
// sites in step is answered before its record (history and the "checked" time) is written; the
// record follows, and the services wait for it before they close. Every other outcome is
// recorded before the answer, as before.

function useOwner(dialect: 'sqlite' | 'postgres', env: Record<string, string> = {}) {
  const context = {} as {
    store: TestStore;
    services: Services;
    other: Services;
    app: App;
    baseUrl: string;
    owner: DirectoryUser;
    token: string;
    own: () => Promise<Response>;
  };
  beforeAll(async () => {
    context.store = await createTestStore(dialect);
    context.services = await openTestServices(context.store, env);
    context.other = await openTestServices(context.store, env);
    ({ app: context.app, baseUrl: context.baseUrl } = await listen(context.services));
    context.owner = await makeUser(context.services);
    context.token = await createToken(context.services.database.db, context.owner.id, 'test');
    context.own = () =>
      fetch(
        `${context.baseUrl}/_layouts/15/userphoto.aspx?size=L&accountname=${encodeURIComponent(context.owner.upn)}`,
        { headers: { authorization: `Bearer ${context.token}` } },
      );
  });
  afterAll(async () => {
    await context.app?.close();
    await context.services?.close();
    await context.other?.close();
    await context.store?.drop();
  });
  return context;
}

describeEachDialect('an in-step check of one’s own picture', (dialect) => {
  const c = useOwner(dialect);

  it('is recorded once answered: the checks counted and the checked time moved', async () => {
    await giveMailPhoto(c.services, c.owner, await solidJpeg([40, 90, 200], 200));
    expect((await c.own()).headers.get('x-photosync-sync')).toBe('synced');
    const answers: string[] = [];
    for (let i = 0; i < 3; i++) answers.push((await c.own()).headers.get('x-photosync-sync') ?? '');
    expect(answers).toEqual(['unchanged', 'unchanged', 'unchanged']);
    await c.services.sync.settle();
    const history = await listAttempts(c.services.database.db, c.owner.id);
    expect(history.map((a) => [a.outcome, a.checks])).toEqual([
      ['unchanged', 3],
      ['synced', 1],
    ]);
    expect(attemptCount(history)).toBe(4);
    const profile = await getSiteProfile(c.services.database.db, c.owner.id);
    expect(profile?.lastCheckedAt).toBeGreaterThanOrEqual(history[0]!.lastAt);
  });
});

/** Counts the updates of sync_attempts rows (a test's trigger on its own store); `read` says how many so far. */
async function countAttemptUpdates(services: Services, dialect: 'sqlite' | 'postgres') {
  const { db } = services.database;
  await sql`create table attempt_updates (n integer)`.execute(db);
  if (dialect === 'sqlite') {
    await sql`create trigger count_attempt_updates after update on sync_attempts
      begin insert into attempt_updates values (1); end`.execute(db);
  } else {
    await sql`create function count_attempt_updates() returns trigger language plpgsql as $$
      begin insert into attempt_updates values (1); return null; end $$`.execute(db);
    await sql`create trigger count_attempt_updates after update on sync_attempts
      for each row execute function count_attempt_updates()`.execute(db);
  }
  return async () => {
    const { rows } = await sql<{ n: number | string }>`select count(*) as n from attempt_updates`.execute(db);
    return Number(rows[0]!.n);
  };
}

describeEachDialect('in-step checks of one’s own picture in a burst', (dialect) => {
  const c = useOwner(dialect);

  it('are recorded as one write that counts them all', async () => {
    await giveMailPhoto(c.services, c.owner, await solidJpeg([90, 200, 40], 200));
    expect((await c.own()).headers.get('x-photosync-sync')).toBe('synced');
    expect((await c.own()).headers.get('x-photosync-sync')).toBe('unchanged');
    await c.services.sync.settle();
    const updates = await countAttemptUpdates(c.services, dialect);
    // Ten views at once, as a page showing one's picture in several places asks for it.
    const views = await Promise.all(Array.from({ length: 10 }, () => c.own()));
    expect(views.map((v) => v.headers.get('x-photosync-sync'))).toEqual(Array(10).fill('unchanged'));
    await c.services.sync.settle();
    // One write gathers them (two if the machine took longer than the gathering to answer them).
    expect(await updates()).toBeLessThanOrEqual(2);
    const history = await listAttempts(c.services.database.db, c.owner.id);
    expect(history.map((a) => [a.outcome, a.checks])).toEqual([
      ['unchanged', 11],
      ['synced', 1],
    ]);
  });

  it('are written before the user’s next attempt is recorded, so the history keeps its order', async () => {
    for (let i = 0; i < 3; i++) expect((await c.own()).headers.get('x-photosync-sync')).toBe('unchanged');
    expect((await c.services.sync.sync(c.owner, 'sharepoint_tile')).outcome).toBe('unchanged');
    const history = await listAttempts(c.services.database.db, c.owner.id);
    expect(history.map((a) => [a.trigger, a.outcome, a.checks])).toEqual([
      ['sharepoint_tile', 'unchanged', 1],
      ['photo_request', 'unchanged', 14],
      ['photo_request', 'synced', 1],
    ]);
  });

  it('are shown in the console as soon as it is asked', async () => {
    const admin = await makeUser(c.services, { isAdmin: true });
    const adminToken = await createToken(c.services.database.db, admin.id, 'test');
    for (let i = 0; i < 2; i++) expect((await c.own()).headers.get('x-photosync-sync')).toBe('unchanged');
    const response = await fetch(`${c.baseUrl}/admin/api/users/${encodeURIComponent(c.owner.upn)}`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(response.status).toBe(200);
    const body = JSON.stringify(await response.json());
    expect(body).toContain('"checks":16');
  });
});

describeEachDialect('an in-step check written after a later sync of the same user', (dialect) => {
  const c = useOwner(dialect);

  it('leaves the profile’s checked time at the sync’s, not its own earlier one', async () => {
    await giveMailPhoto(c.services, c.owner, await solidJpeg([40, 90, 200], 200));
    expect((await c.own()).headers.get('x-photosync-sync')).toBe('synced');
    await c.services.sync.settle();
    // A view that changes nothing is gathered; a new photo and a tile click follow within the gathering.
    expect((await c.own()).headers.get('x-photosync-sync')).toBe('unchanged');
    await new Promise((resolve) => setTimeout(resolve, 20));
    await giveMailPhoto(c.services, c.owner, await solidJpeg([200, 40, 40], 200));
    expect((await c.services.sync.sync(c.owner, 'sharepoint_tile')).outcome).toBe('synced');
    await c.services.sync.settle();
    const history = await listAttempts(c.services.database.db, c.owner.id);
    expect(history.map((a) => [a.trigger, a.outcome])).toEqual([
      ['sharepoint_tile', 'synced'],
      ['photo_request', 'unchanged'],
      ['photo_request', 'synced'],
    ]);
    const profile = await getSiteProfile(c.services.database.db, c.owner.id);
    expect(profile!.lastCheckedAt).toBeGreaterThanOrEqual(history[0]!.startedAt);
  });
});

describeEachDialect('in-step checks of a user removed before they are written', (dialect) => {
  const c = useOwner(dialect);

  it('are dropped without an error: there is no history left to count them in', async () => {
    const user = await makeUser(c.services);
    await giveMailPhoto(c.services, user, await solidJpeg([120, 20, 120], 200));
    expect((await c.services.sync.sync(user, 'admin')).outcome).toBe('synced');
    const check = await c.services.sync.sync(user, 'photo_request', { answerBeforeRecord: true });
    expect(check.outcome).toBe('unchanged');
    await deleteUser(c.services.database.db, user);
    await c.services.sync.settle();
    await expect(check.recorded).resolves.toBeUndefined();
  });
});

describeEachDialect('in-step checks with a re-check interval', (dialect) => {
  const c = useOwner(dialect, { PHOTOSYNC_RECHECK_SECONDS: '60' });

  it('count a check not written yet as the time last checked', async () => {
    await giveMailPhoto(c.services, c.owner, await solidJpeg([40, 40, 220], 200));
    expect((await c.own()).headers.get('x-photosync-sync')).toBe('synced');
    // The sync marked the picture checked; a tile click checks again, whatever the interval.
    expect((await c.services.sync.sync(c.owner, 'sharepoint_tile')).outcome).toBe('unchanged');
    await c.services.database.db
      .updateTable('site_profiles')
      .set({ last_checked_at: 1 })
      .where('user_id', '=', c.owner.id)
      .execute();
    const answers: string[] = [];
    for (let i = 0; i < 3; i++) answers.push((await c.own()).headers.get('x-photosync-sync') ?? '');
    expect(answers).toEqual(['unchanged', 'recently_checked', 'recently_checked']);
  });
});

// PostgreSQL only: another connection holds the user's sync state row, so a record waits for it
// (SQLite's writers wait in the same thread, so nothing can answer meanwhile there).

/** Holds `user`'s sync_state row locked from `services`' connection until `release()`; `holding` ends after it. */
async function holdStateRow(services: Services, user: DirectoryUser) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const holding = services.database.db.transaction().execute(async (trx) => {
    await sql`select 1 from sync_state where user_id = ${user.id} for update`.execute(trx);
    locked();
    await released;
  });
  await isLocked;
  return { release, holding };
}

for (const dialect of testDialects().filter((d) => d === 'postgres')) {
  describe(`an in-step check whose record has to wait [${dialect}]`, () => {
    const c = useOwner(dialect);

    it('answers while the record waits; a tile click and the services’ close wait for theirs', async () => {
      await giveMailPhoto(c.services, c.owner, await solidJpeg([200, 90, 40], 200));
      expect((await c.own()).headers.get('x-photosync-sync')).toBe('synced');
      const before = attemptCount(await listAttempts(c.services.database.db, c.owner.id));

      const { release, holding } = await holdStateRow(c.other, c.owner);
      try {
        const view = await c.own();
        expect(view.status).toBe(200);
        expect(view.headers.get('x-photosync-sync')).toBe('unchanged');
        // A tile click is recorded before it is answered: it waits for the row.
        let clicked = false;
        const click = c.services.sync.sync(c.owner, 'sharepoint_tile').then((result) => {
          clicked = true;
          return result;
        });
        let settled = false;
        const settling = c.services.sync.settle().then(() => (settled = true));
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect({ clicked, settled }).toEqual({ clicked: false, settled: false });
        expect(attemptCount(await listAttempts(c.other.database.db, c.owner.id))).toBe(before);
        release();
        await holding;
        expect((await click).outcome).toBe('unchanged');
        await settling;
      } finally {
        release();
        await holding;
      }
      expect(attemptCount(await listAttempts(c.services.database.db, c.owner.id))).toBe(before + 2);
    });

    it('are all written before settle() ends, those queued behind a write that waits too', async () => {
      const before = attemptCount(await listAttempts(c.services.database.db, c.owner.id));
      const { release, holding } = await holdStateRow(c.other, c.owner);
      let settled = false;
      try {
        // The first view's record starts after the gathering and waits for the row; the second
        // view's is queued behind it.
        expect((await c.own()).headers.get('x-photosync-sync')).toBe('unchanged');
        await new Promise((resolve) => setTimeout(resolve, 400));
        expect((await c.own()).headers.get('x-photosync-sync')).toBe('unchanged');
        await new Promise((resolve) => setTimeout(resolve, 400));
        // The stylesheet anyone may load never waits for records.
        const stylesheet = await fetch(`${c.baseUrl}/admin/assets/admin.css`);
        expect(stylesheet.status).toBe(200);
        const settling = c.services.sync.settle().then(() => (settled = true));
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(settled).toBe(false);
        release();
        await holding;
        await settling;
      } finally {
        release();
        await holding;
      }
      expect(settled).toBe(true);
      expect(attemptCount(await listAttempts(c.services.database.db, c.owner.id))).toBe(before + 2);
    });
  });
}
