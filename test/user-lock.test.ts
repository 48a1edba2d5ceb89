import { expect, it } from 'vitest';
import { createUserLock, LockTimeoutError } from '../src/storage/user-lock.js';
import { makeUser } from './support/factories.js';
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
});
