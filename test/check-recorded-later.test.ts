import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/directory/credentials.js';
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

function useOwner(dialect: 'sqlite' | 'postgres') {
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
    context.services = await openTestServices(context.store);
    context.other = await openTestServices(context.store);
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

// PostgreSQL only: another connection holds the user's sync state row, so a record waits for it
// (SQLite's writers wait in the same thread, so nothing can answer meanwhile there).
for (const dialect of testDialects().filter((d) => d === 'postgres')) {
  describe(`an in-step check whose record has to wait [${dialect}]`, () => {
    const c = useOwner(dialect);

    it('answers while the record waits; a tile click and the services’ close wait for theirs', async () => {
      await giveMailPhoto(c.services, c.owner, await solidJpeg([200, 90, 40], 200));
      expect((await c.own()).headers.get('x-photosync-sync')).toBe('synced');
      const before = attemptCount(await listAttempts(c.services.database.db, c.owner.id));

      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      const holding = c.other.database.db.transaction().execute(async (trx) => {
        await sql`select 1 from sync_state where user_id = ${c.owner.id} for update`.execute(trx);
        locked();
        await released;
      });
      await isLocked;
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
  });
}
