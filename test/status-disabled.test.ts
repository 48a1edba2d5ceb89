import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Services } from '../src/services.js';
import type { UserSyncStatus } from '../src/sync/status.js';
import { runCommand } from './support/cli.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import { createTestStore, describeEachDialect, openTestServices, type TestStore } from './support/services.js';

// photosync status shows which accounts are disabled: a disabled user's pictures show the
// placeholder to everyone else whatever their sync state, so "in step" alone misleads the admin
// who asks why a person's photo is missing.

describeEachDialect('photosync status and disabled accounts', (dialect) => {
  let store: TestStore;
  let services: Services;
  beforeAll(async () => {
    store = await createTestStore(dialect);
    services = await openTestServices(store);
  });
  afterAll(async () => {
    await services?.close();
    await store?.drop();
  });

  it('says which users are disabled, in the table, its summary and the JSON', async () => {
    const [kept, left] = [await makeUser(services), await makeUser(services)];
    for (const user of [kept, left]) {
      await giveMailPhoto(services, user, await solidJpeg([20, 120, 20], 96));
      await services.sync.sync(user, 'admin');
    }
    const disabled = await runCommand(['users', 'disable', left.upn], store.env);
    expect(disabled.code, disabled.stderr).toBe(0);

    const text = await runCommand(['status'], store.env);
    expect(text.code, text.stderr).toBe(0);
    const rows = text.stdout.split('\n');
    expect(rows.find((l) => l.startsWith(left.upn))).toMatch(/\bin step, account disabled\b/);
    expect(rows.find((l) => l.startsWith(kept.upn))).not.toContain('disabled');
    const summary = rows.find((l) => /^\d+ users:/.test(l)) ?? '';
    expect(summary).toContain('2 in step');
    expect(summary).toContain('1 account disabled');

    const json = await runCommand(['status', '--json'], store.env);
    const statuses = JSON.parse(json.stdout) as Array<UserSyncStatus & { enabled: boolean }>;
    expect(statuses.find((s) => s.upn === left.upn)).toMatchObject({ state: 'in_step', enabled: false });
    expect(statuses.find((s) => s.upn === kept.upn)).toMatchObject({ state: 'in_step', enabled: true });
  });
});
