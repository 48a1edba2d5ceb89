import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { findUserByUpn } from '../src/directory/users.js';
import { setMailPhoto } from '../src/mail/photo-store.js';
import { createSyncEngine } from '../src/sync/engine.js';
import type { UserLock } from '../src/storage/user-lock.js';
import { runCommand } from './support/cli.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import { describeEachDialect, useTestServices } from './support/services.js';

/** A promise and the function that resolves it: an explicit signal between two tasks. */
function signal(): { fired: Promise<void>; fire: () => void } {
  let fire!: () => void;
  const fired = new Promise<void>((resolve) => (fire = resolve));
  return { fired, fire };
}

describeEachDialect('users remove while a sync of the user runs', (dialect) => {
  const context = useTestServices(dialect);

  it('waits for the sync to finish, then leaves no photo file of the user behind', { timeout: 60_000 }, async () => {
    const { services, store } = context;
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg([200, 40, 40], 400));
    expect((await services.sync.sync(user, 'admin')).outcome).toBe('synced');
    await giveMailPhoto(services, user, await solidJpeg([40, 40, 200], 400));

    // A sync that holds the user's lock and pauses as soon as it has it (before reading the inputs
    // it renders from), until the test lets it go on.
    const holding = signal();
    const goOn = signal();
    const lock: UserLock = {
      run: (userId, fn) => services.lock.run(userId, fn),
      runReading: (userId, read, fn) =>
        services.lock.runReading(userId, read, async (rows) => {
          holding.fire();
          await goOn.fired;
          return fn(rows);
        }),
    };
    const engine = createSyncEngine({
      db: services.database.db,
      blobs: services.blobs,
      lock,
      metrics: services.metrics,
      settings: services.syncSettings,
    });
    const syncing = engine.sync(user, 'admin');
    await holding.fired;

    // The removal, from another process's services, while the sync holds the user.
    const removal = runCommand(['users', 'remove', user.upn], store.env);
    const removedEarly = await Promise.race([removal.then(() => true), sleep(1000).then(() => false)]);
    expect(removedEarly).toBe(false);
    expect(await findUserByUpn(services.database.db, user.upn)).toBeDefined();
    goOn.fire();

    const [synced, removed] = await Promise.all([syncing, removal]);
    expect(synced.outcome, synced.error ?? '').toBe('synced');
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`Removed ${user.upn}`);
    expect(await findUserByUpn(services.database.db, user.upn)).toBeUndefined();
    const left: string[] = [];
    for await (const batch of services.blobs.listKeys()) {
      left.push(...batch.filter((key) => key.includes(user.id)));
    }
    expect(left).toEqual([]);
  });

  it(
    'a sync that takes the user after the removal says the user is gone, and writes nothing',
    { timeout: 60_000 },
    async () => {
      const { services, store } = context;
      const user = await makeUser(services);
      await giveMailPhoto(services, user, await solidJpeg([40, 200, 40], 400));

      // A sync that has decided to render and is about to take the user's lock when the removal
      // takes it first.
      const asking = signal();
      const goOn = signal();
      const lock: UserLock = {
        run: (userId, fn) => services.lock.run(userId, fn),
        runReading: async (userId, read, fn) => {
          asking.fire();
          await goOn.fired;
          return services.lock.runReading(userId, read, fn);
        },
      };
      const engine = createSyncEngine({
        db: services.database.db,
        blobs: services.blobs,
        lock,
        metrics: services.metrics,
        settings: services.syncSettings,
      });
      const syncing = engine.sync(user, 'sharepoint_tile').then(
        (result) => result,
        (error: unknown) => error,
      );
      await asking.fired;
      const removed = await runCommand(['users', 'remove', user.upn], store.env);
      expect(removed.code, removed.stderr).toBe(0);
      goOn.fire();

      expect(await syncing).toMatchObject({ id: 'user_not_found', status: 404 });
      const { db } = services.database;
      expect(await db.selectFrom('site_profiles').select('user_id').where('user_id', '=', user.id).execute()).toEqual(
        [],
      );
      const left: string[] = [];
      for await (const batch of services.blobs.listKeys()) {
        left.push(...batch.filter((key) => key.includes(user.id)));
      }
      expect(left).toEqual([]);
    },
  );

  // PostgreSQL only: on SQLite the photo's transaction holds the write lock from its BEGIN, and the
  // command (run in this process) would wait for it blocking the very thread that must let it go.
  it.skipIf(dialect === 'sqlite')(
    'waits for a mail photo being stored, then leaves none of its files behind',
    { timeout: 60_000 },
    async () => {
      const { services, store } = context;
      const user = await makeUser(services);
      await giveMailPhoto(services, user, await solidJpeg([200, 200, 40], 400));

      // A new mail photo whose commit pauses (its rows written, not yet committed) until the test lets it go on.
      const writing = signal();
      const goOn = signal();
      const storing = setMailPhoto(services.mailStore, user, await solidJpeg([40, 200, 200], 400), async () => {
        writing.fire();
        await goOn.fired;
      });
      await writing.fired;

      const removal = runCommand(['users', 'remove', user.upn], store.env);
      const removedEarly = await Promise.race([removal.then(() => true), sleep(500).then(() => false)]);
      expect(removedEarly).toBe(false);
      goOn.fire();

      const [stored, removed] = await Promise.all([storing, removal]);
      expect(stored.etag).toBeTruthy();
      expect(removed.code, removed.stderr).toBe(0);
      expect(await findUserByUpn(services.database.db, user.upn)).toBeUndefined();
      const left: string[] = [];
      for await (const batch of services.blobs.listKeys()) {
        left.push(...batch.filter((key) => key.includes(user.id)));
      }
      // The master and the sites' renditions kept with it went with the user.
      expect(left).toEqual([]);
    },
  );
});
