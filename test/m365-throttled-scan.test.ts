import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { App } from '../src/app.js';
import { buildApp } from '../src/app.js';
import type * as Network from '../src/m365/network.js';
import { latestScan } from '../src/m365/scans.js';
import { listTenantUsers } from '../src/m365/users.js';
import type { Services } from '../src/services.js';
import { runCommand } from './support/cli.js';
import { makeUser } from './support/factories.js';
import { FormClient } from './support/form-client.js';
import { startM365Tenant, type ConnectMode, type M365Tenant } from './support/m365-tenant.js';
import { createTestStore, openTestServices, type TestStore } from './support/services.js';

// A scan of a tenant whose Graph allows 30 requests a second, far fewer than photosync sends
// (four batches of 20 at once): photosync playing the tenant answers every request past the
// limit 429 with Retry-After, inside the batches. The scan must slow to that rate and read
// everyone, and when some users still cannot be read, keep what it knew of them and say so.

// The one way out of this process to the tenant (m365/network.ts), with a place for a test to
// answer a request on the way instead of the tenant, as a tenant in trouble would.
const onTheWay = vi.hoisted(() => ({ answer: undefined as ((url: string) => Response | undefined) | undefined }));
vi.mock('../src/m365/network.js', async (importOriginal) => {
  const real = await importOriginal<typeof Network>();
  const tenantFetch: typeof real.tenantFetch = (settings, url, init) => {
    const answer = onTheWay.answer?.(url);
    return answer ? Promise.resolve(answer) : real.tenantFetch(settings, url, init);
  };
  const tenantFetcher: typeof real.tenantFetcher = (settings) => (url, init) => tenantFetch(settings, url, init);
  return { ...real, tenantFetch, tenantFetcher };
});

const PASSWORD = 'correct horse battery';
const PEOPLE = 300;
const person = (i: number) => `person${String(i).padStart(3, '0')}@contoso.com`;
const summaryLine = (stdout: string) => stdout.split('\n').find((line) => /^\d+ users: /.test(line)) ?? '';

describe('a scan of a tenant that throttles hard', { timeout: 120_000 }, () => {
  let tenant: M365Tenant;
  let connect: ConnectMode;
  let store: TestStore;
  beforeAll(async () => {
    tenant = await startM365Tenant({ env: { PHOTOSYNC_GRAPH_APP_LIMIT: '30/1s' } });
    const csv = path.join(tenant.store.dataDir, 'people.csv');
    fs.writeFileSync(csv, Array.from({ length: PEOPLE }, (_, i) => `${person(i)},Person ${i},,true,false`).join('\n'));
    expect((await tenant.cli(['users', 'import', csv])).code).toBe(0);
    connect = tenant.connect(await tenant.registerApp());
    // One store for connect mode, shared by the command line and the console, as an administrator's is.
    store = await createTestStore('sqlite');
  }, 180_000);
  afterAll(async () => {
    vi.unstubAllGlobals();
    await store?.drop();
    await tenant?.stop();
  });

  it('reads every user at the rate the tenant allows and says it was throttled', async () => {
    const started = Date.now();
    const result = await connect.m365(['scan'], store.env);
    expect(result.code, result.stderr).toBe(0);
    expect(summaryLine(result.stdout)).toMatch(new RegExp(`^${PEOPLE + 6} users: `));
    expect(summaryLine(result.stdout)).not.toContain('unknown');
    expect(summaryLine(result.stdout)).toContain(`${PEOPLE + 2} no mail photo`);
    expect(result.stdout).toMatch(/throttled \d+ times \(kept waiting \d+ s\)/);
    expect(result.stdout).not.toContain('Incomplete');
    expect(await tenant.metric('photosync_graph_throttled_total')).toBeGreaterThan(0);
    // Some 300 photo requests at 30 a second: the scan waited as it was asked to.
    expect(Date.now() - started).toBeGreaterThan(8_000);
  });

  it('keeps the earlier state of users it cannot read, counts them, exits 75 and says so in the console', async () => {
    // SharePoint fails three users' profiles on every try, as a tenant in trouble may: photosync
    // playing the tenant has no such fault of its own, so this process's requests meet it on the way.
    const failing = ['jane@contoso.com', person(0), person(1)];
    onTheWay.answer = (address) => {
      const url = decodeURIComponent(address);
      if (!url.includes('GetPropertiesFor') || !failing.some((upn) => url.includes(`|${upn}'`))) return undefined;
      return new Response(JSON.stringify({ error: { code: '-1', message: 'Server is busy' } }), {
        status: 503,
        headers: { 'content-type': 'application/json', 'retry-after': '0' },
      });
    };
    let result;
    try {
      result = await runCommand(['m365', 'scan'], { ...connect.env, ...store.env });
    } finally {
      onTheWay.answer = undefined;
    }
    expect(result.code, result.stderr).toBe(75);
    expect(result.stdout).toMatch(
      /^Incomplete: 3 users could not be read while Microsoft 365 throttled the scan\. Each keeps the state an earlier scan found/m,
    );
    for (const upn of failing) {
      expect(result.stdout).toMatch(
        new RegExp(`^  ${upn.replace(/[.@]/g, '\\$&')}: SharePoint profile could not be read`, 'm'),
      );
    }
    // What the first scan found, not "unknown": Sync all out of step still finds jane.
    expect(summaryLine(result.stdout)).not.toContain('unknown');

    let services: Services | undefined;
    let app: App | undefined;
    try {
      const connectEnv = Object.fromEntries(
        Object.entries(connect.env).filter(([name]) => name.startsWith('PHOTOSYNC_M365_')),
      );
      services = await openTestServices(store, connectEnv);
      const states = Object.fromEntries((await listTenantUsers(services.database.db)).map((u) => [u.upn, u.state]));
      expect(states).toMatchObject({
        'jane@contoso.com': 'never_synced',
        [person(0)]: 'no_photo',
        [person(1)]: 'no_photo',
      });
      expect(await latestScan(services.database.db)).toMatchObject({
        status: 'done',
        usersDone: PEOPLE + 6,
        usersUnread: 3,
        throttledWaits: expect.any(Number),
      });

      app = await buildApp(services);
      const admin = await makeUser(services, { isAdmin: true, displayName: 'Ada Admin' });
      const browser = new FormClient(app);
      await browser.signIn(admin.upn, PASSWORD);
      const page = (await browser.request('GET', '/admin/tenant')).body;
      expect(page).toContain(`${PEOPLE + 3} users read with`);
      expect(page).toMatch(/data-scan="unread">Users the scan could not read: 3\./);
      expect(page).toMatch(/data-scan="throttled">Microsoft 365 throttled the scan \(waits: [1-9]\d*\)/);
    } finally {
      await app?.close();
      await services?.close();
    }
  });
});
