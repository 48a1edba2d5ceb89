import { expect, it } from 'vitest';
import { createUserLock, LockTimeoutError } from '../src/storage/user-lock.js';
import { makeUser } from './support/factories.js';
import { describeEachDialect, openTestServices, useTestServices } from './support/services.js';

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
      let release!: () => void;
      const held = first.run(user.id, async () => {
        order.push('first in');
        await new Promise<void>((resolve) => (release = resolve));
        order.push('first out');
      });
      await new Promise((resolve) => setTimeout(resolve, 50));

      await expect(second.run(user.id, async () => order.push('second in'))).rejects.toBeInstanceOf(LockTimeoutError);
      const waiting = createUserLock(other.database.db, other.database.dialect, { waitMs: 10_000 }).run(
        user.id,
        async () => {
          order.push('second in');
        },
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      release();
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
