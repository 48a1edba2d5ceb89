import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Services } from '../src/services.js';
import { createLeaseLock } from '../src/storage/user-lock.js';
import { listAttempts } from '../src/sync/history.js';
import { runCommand } from './support/cli.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import { createTestStore, openTestServices, type TestStore } from './support/services.js';

// `photosync sync <upn>` while another process syncs the user: nothing is done for them, and the
// command says so and exits 75 (try again), so a script can tell it from a sync that was made.
// The wait for the user's lock is shortened from 30 s so that the test does not sit through it.

vi.mock(import('../src/storage/user-lock.js'), async (original) => {
  const actual = await original();
  return {
    ...actual,
    createUserLock: (db, dialect, options = {}) => actual.createUserLock(db, dialect, { ...options, waitMs: 200 }),
  };
});

describe('photosync sync with a user another process is syncing', () => {
  let store: TestStore;
  let services: Services;
  beforeAll(async () => {
    store = await createTestStore('sqlite');
    services = await openTestServices(store);
  });
  afterAll(async () => {
    await services.close();
    await store.drop();
  });

  it('exits 75, says to run it again, and the next run syncs', { timeout: 30_000 }, async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg([40, 90, 200]));
    // Another process's sync of the user: the same lease row the sync engine takes on SQLite.
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let taken = () => {};
    const isTaken = new Promise<void>((resolve) => (taken = resolve));
    const holder = createLeaseLock(services.database.db).run(user.id, async () => {
      taken();
      await held;
    });
    await isTaken;
    let busy;
    try {
      busy = await runCommand(['sync', user.upn], store.env);
    } finally {
      release();
      await holder;
    }
    expect(busy.code).toBe(75);
    expect(busy.stdout).toContain(`${user.upn}: busy`);
    expect(busy.stderr).toContain(`Run photosync sync ${user.upn} again.`);
    expect((await listAttempts(services.database.db, user.id)).map((a) => a.outcome)).toEqual(['busy']);

    const again = await runCommand(['sync', user.upn], store.env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`${user.upn}: synced`);
  });
});
