import { setTimeout as sleep } from 'node:timers/promises';
import { CompiledQuery } from 'kysely';
import { describe, expect, inject, it } from 'vitest';
import { createUserLock, LockTimeoutError } from '../src/storage/user-lock.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import { describeEachDialect, openTestServices, useTestServices } from './support/services.js';

/** A promise and the function that resolves it: an explicit signal between two tasks. */
function signal(): { fired: Promise<void>; fire: () => void } {
  let fire!: () => void;
  const fired = new Promise<void>((resolve) => (fire = resolve));
  return { fired, fire };
}

describeEachDialect('the per-user lock across instances', (dialect) => {
  const context = useTestServices(dialect);

  it('makes a second instance wait for the first, and gives up after its wait limit', async () => {
    const { services, store } = context;
    const other = await openTestServices(store);
    try {
      const user = await makeUser(services);
      const first = createUserLock(services.database.db, services.database.dialect);
      const second = createUserLock(other.database.db, other.database.dialect, { waitMs: 300 });
      const order: string[] = [];
      const firstIn = signal();
      const release = signal();
      const held = first.run(user.id, async () => {
        order.push('first in');
        firstIn.fire();
        await release.fired;
        order.push('first out');
      });
      await firstIn.fired;

      await expect(second.run(user.id, async () => order.push('second in'))).rejects.toBeInstanceOf(LockTimeoutError);
      const blocked = signal();
      const waiting = createUserLock(other.database.db, other.database.dialect, {
        waitMs: 10_000,
        onWait: blocked.fire,
      }).run(user.id, async () => {
        order.push('second in');
      });
      // The second instance found the lock held and waits; only then does the first let go.
      await blocked.fired;
      release.fire();
      await Promise.all([held, waiting]);
      expect(order).toEqual(['first in', 'first out', 'second in']);

      const someoneElse = await makeUser(services);
      await second.run(someoneElse.id, async () => order.push('other user'));
      expect(order.at(-1)).toBe('other user');
    } finally {
      await other.close();
    }
  });

  it('gives up on a holder elsewhere with every caller of this instance at once, not one wait after another', async () => {
    const { services, store } = context;
    const other = await openTestServices(store);
    try {
      const user = await makeUser(services);
      const stuck = createUserLock(services.database.db, services.database.dialect);
      const waitMs = 400;
      const here = createUserLock(other.database.db, other.database.dialect, { waitMs });
      const holding = signal();
      const release = signal();
      const held = stuck.run(user.id, async () => {
        holding.fire();
        await release.fired;
      });
      await holding.fired;
      // Four requests of one user behind the stuck holder: each gives up after its own wait,
      // which the first spends on the holder and the others in line behind it.
      const started = Date.now();
      const gaveUp = await Promise.all(
        [1, 2, 3, 4].map(() =>
          here
            .run(user.id, async () => 'ran')
            .then(
              () => -1,
              (error: unknown) => (error instanceof LockTimeoutError ? Date.now() - started : -1),
            ),
        ),
      );
      release.fire();
      await held;
      expect(gaveUp.every((ms) => ms >= 0)).toBe(true);
      // One after another they would give up at 400, 800, 1200 and 1600 ms.
      expect(Math.max(...gaveUp) - Math.min(...gaveUp)).toBeLessThan(waitMs);
      // The line is not left behind: the next caller takes the lock at once.
      expect(await here.run(user.id, async () => 'ran')).toBe('ran');
    } finally {
      await other.close();
    }
  });
});

describe.runIf(inject('postgresUrl'))('the per-user lock on PostgreSQL', () => {
  const context = useTestServices('postgres');

  it('frees the lock when the read taken with it fails, so the pooled connection does not keep it', async () => {
    const { services, store } = context;
    const other = await openTestServices(store);
    try {
      const user = await makeUser(services);
      const lock = createUserLock(services.database.db, 'postgres');
      // A read that fails after photosync_locked_read has taken the lock.
      const failing = CompiledQuery.raw(`select 1 / (length($1) - length($1)) as x`, [user.id]);
      await expect(lock.runReading(user.id, failing, async () => 'ran')).rejects.toThrow(/division by zero/);
      // Another instance gets the lock at once; before, a pooled connection of the first held it.
      const elsewhere = createUserLock(other.database.db, 'postgres', { waitMs: 500 });
      await expect(elsewhere.run(user.id, async () => 'in')).resolves.toBe('in');
    } finally {
      await other.close();
    }
  });

  it('lets connect mode’s pushes, however many wait on Microsoft 365, take none of the sync engine’s slots', async () => {
    const { services } = context;
    const jane = await makeUser(services);
    await giveMailPhoto(services, jane, await solidJpeg([10, 120, 200], 200));
    // More pushes of tenant users than the lock has slots, each waiting (as on a Retry-After).
    const done = signal();
    const pushes = [1, 2, 3, 4, 5, 6].map((i) => services.tenantLock.run(`m365:tenant-user-${i}`, () => done.fired));
    try {
      // Before, the pushes held every slot: the tile waited out the lock's 30 s and was "busy".
      const result = await services.sync.sync(jane, 'sharepoint_tile');
      expect(result.outcome, result.error ?? '').toBe('synced');
    } finally {
      done.fire();
      await Promise.all(pushes);
    }
  });
});

describe('the per-user lock on SQLite', () => {
  const context = useTestServices('sqlite');

  it('renews its lease while the holder works, so work longer than a lease is never shared', async () => {
    const { services, store } = context;
    const other = await openTestServices(store);
    try {
      const user = await makeUser(services);
      // 200 ms stands for the 30 s lease; the work for a push that waits on Microsoft 365 past it.
      const first = createUserLock(services.database.db, 'sqlite', { leaseMs: 200 });
      const second = createUserLock(other.database.db, 'sqlite', { leaseMs: 200, waitMs: 5_000 });
      let inside = 0;
      let most = 0;
      const work = async () => {
        inside++;
        most = Math.max(most, inside);
        await sleep(700);
        inside--;
      };
      const firstIn = signal();
      const a = first.run(user.id, async () => {
        firstIn.fire();
        await work();
      });
      await firstIn.fired;
      await Promise.all([a, second.run(user.id, work)]);
      expect(most, 'two holders of one user’s lock at once').toBe(1);
    } finally {
      await other.close();
    }
  });
});
