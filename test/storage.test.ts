import { expect, it } from 'vitest';
import { countUsers } from '../src/directory/users.js';
import { makeUser } from './support/factories.js';
import { createTestStore, describeEachDialect, openTestServices } from './support/services.js';

describeEachDialect('database migrations', (dialect) => {
  it('migrates a fresh store, and opening it again keeps the data', async () => {
    const store = await createTestStore(dialect);
    try {
      const first = await openTestServices(store);
      await makeUser(first);
      await first.close();
      const again = await openTestServices(store);
      expect(await countUsers(again.database.db)).toBe(1);
      await again.close();
    } finally {
      await store.drop();
    }
  });

  it('migrates a new schema while another schema of the same database already has photosync tables', async () => {
    const a = await createTestStore(dialect);
    const b = await createTestStore(dialect);
    try {
      const first = await openTestServices(a);
      const second = await openTestServices(b);
      await makeUser(second);
      expect(await countUsers(first.database.db)).toBe(0);
      expect(await countUsers(second.database.db)).toBe(1);
      await first.close();
      await second.close();
    } finally {
      await a.drop();
      await b.drop();
    }
  });
});
