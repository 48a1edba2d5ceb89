import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { buildApp } from '../src/app.js';
import { defaultSettings } from '../src/admin/settings.js';
import type { DirectoryUser } from '../src/directory/users.js';
import { TENANT_STATES } from '../src/m365/model.js';
import { scanTenant } from '../src/m365/scan.js';
import { listTenantUsers } from '../src/m365/users.js';
import { OUT_OF_STEP_STATES } from '../src/sync/state.js';
import type { Services } from '../src/services.js';
import { FormClient } from './support/form-client.js';
import { makeUser } from './support/factories.js';
import { startM365Tenant, type M365Tenant } from './support/m365-tenant.js';
import { createTestStore, openTestServices, testDialects, useTestApp, type TestStore } from './support/services.js';

// The admin console in connect mode, against photosync playing the tenant (a `photosync serve`
// over TLS with its demo organisation): the tenant view after a scan, "Sync now" and "Sync all
// out of step" through their dry runs, and scheduled scans as a setting. Both databases.

const PASSWORD = 'correct horse battery';
const STATE_OF = (html: string, upn: string) =>
  new RegExp(`<tr data-upn="${upn.replace(/[.@]/g, '\\$&')}"[^>]*>[\\s\\S]*?data-state="(\\w+)"`).exec(html)?.[1];

/** What the tenant's userphoto.aspx serves for a user now, asked as a signed-in person of the tenant. */
const tenantPicture = async (tenant: M365Tenant, token: string, upn: string) => {
  const response = await fetch(
    `${tenant.url}/_layouts/15/userphoto.aspx?size=M&accountname=${encodeURIComponent(upn)}`,
    {
      headers: { authorization: `Bearer ${token}` },
    },
  );
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer()).toString('base64');
};

for (const dialect of testDialects()) {
  describe(`the console in connect mode [${dialect}]`, { timeout: 180_000 }, () => {
    let store: TestStore;
    let services: Services;
    let app: App;
    let admin: DirectoryUser;
    let browser: FormClient;
    // A tenant of its own per database, so that each starts from the tenant's demo organisation.
    let tenant: M365Tenant;
    let tenantToken: string;
    beforeAll(async () => {
      tenant = await startM365Tenant();
      tenantToken = (await tenant.cli(['token', 'create', 'admin@contoso.com'])).stdout.trim().split('\n').pop()!;
      const registered = await tenant.registerApp();
      const env = tenant.connect(registered).env;
      const connectEnv = Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('PHOTOSYNC_M365_')));
      store = await createTestStore(dialect);
      services = await openTestServices(store, connectEnv);
      app = await buildApp(services);
      admin = await makeUser(services, { isAdmin: true, displayName: 'Ada Admin' });
      browser = new FormClient(app);
      await browser.signIn(admin.upn, PASSWORD);
    }, 300_000);
    afterAll(async () => {
      await app?.close();
      await services?.close();
      await store?.drop();
      await tenant?.stop();
    });

    const page = async (url: string, expected = 200) => {
      const response = await browser.request('GET', url);
      expect(response.statusCode, `${url}: ${response.body.slice(0, 400)}`).toBe(expected);
      return response.body;
    };
    let pushedSoFar = 0;
    /** The UPNs a push can fix, as the store has them. */
    const outOfStep = async () => (await listTenantUsers(services.database.db, OUT_OF_STEP_STATES)).map((r) => r.upn);
    const pushes = async () =>
      Number(
        (
          await services.database.db
            .selectFrom('m365_push_attempts')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    it('shows the tenant before any scan, then every user in the states the scan found, filtered and searched', async () => {
      const before = await page('/admin/tenant');
      expect(before).toContain('href="/admin/tenant" aria-current="page"');
      expect(before).toContain('The tenant has not been scanned yet.');
      expect(before).toContain('Scheduled scans are off');

      const report = await scanTenant(services.m365!, services.database.db);
      expect(report.scan.status).toBe('done');
      const html = await page('/admin/tenant');
      expect(html).toContain(`${report.scan.usersDone} users read with ${report.scan.graphRequests} Graph requests`);
      // The page shows every user in the state the scan decided (test/m365-*.test.ts check those
      // against the tenant's truth), and the count of each state.
      const records = await listTenantUsers(services.database.db);
      expect(records.map((r) => r.upn)).toContain('jane@contoso.com');
      for (const record of records) expect(STATE_OF(html, record.upn), record.upn).toBe(record.state ?? 'unknown');
      expect(STATE_OF(html, 'jane@contoso.com')).toBe('never_synced');
      expect(STATE_OF(html, 'nestor@contoso.com')).toBe('no_photo');
      for (const state of TENANT_STATES) {
        const n = records.filter((r) => (r.state ?? 'unknown') === state).length;
        expect(html).toMatch(new RegExp(`<tr data-count="${state}">[\\s\\S]*?<td>${n}</td>`));
      }

      const filtered = await page('/admin/tenant?state=no_photo');
      expect([...filtered.matchAll(/<tr data-upn="([^"]+)"/g)].map((m) => m[1])).toEqual(
        records.filter((r) => r.state === 'no_photo').map((r) => r.upn),
      );
      const searched = await page('/admin/tenant?search=KASK');
      expect(searched.match(/<tr data-upn=/g)).toHaveLength(1);
      expect(searched).toContain('kalle@contoso.com');
      expect(await page('/admin/tenant?search=100%25')).toContain('No users match.');
      expect(await page('/admin/tenant?state=unknown')).toContain('No users match.');
      await page('/admin/tenant?state=bogus', 400);
      expect(await page('/admin/tenant?search=ka%00sk', 400)).toContain('That request is not valid.');
      // Estonian too.
      const et = new FormClient(app, 'et');
      await et.signIn(admin.upn, PASSWORD);
      const estonian = (await et.request('GET', '/admin/tenant')).body;
      expect(estonian).toContain('Microsoft 365 rentnik');
      expect(estonian).toContain('Pole kunagi sünkroonitud');
    });

    it('offers no sync while operator sync is off, and refuses it', async () => {
      const html = await page('/admin/tenant');
      expect(html).toContain('Syncing from the console is off');
      expect(html).not.toContain('/admin/tenant/sync');
      const refused = await page('/admin/tenant/sync?upn=jane%40contoso.com', 403);
      expect(refused).toContain('Syncing by administrators is turned off in the settings');
      expect(await pushes()).toBe(0);
    });

    it('Sync now shows the dry run first, writes nothing, then pushes on confirmation and says so', async () => {
      await services.settings.update({ operatorSync: true }, admin);
      const shownBefore = await tenantPicture(tenant, tenantToken, 'jane@contoso.com');
      const list = await page('/admin/tenant');
      expect(list).toContain('href="/admin/tenant/sync?upn=jane%40contoso.com"');
      expect(list).toContain(`Sync all out of step (${(await outOfStep()).length})`);

      const confirm = await page('/admin/tenant/sync?upn=jane%40contoso.com');
      expect(confirm).toContain('<h1>Sync Jane Doe now?</h1>');
      expect(confirm).toContain(
        '<li data-upn="jane@contoso.com" data-outcome="would_push">Jane Doe: would push the Exchange photo into SharePoint.</li>',
      );
      expect(await pushes()).toBe(0);
      expect(await tenantPicture(tenant, tenantToken, 'jane@contoso.com')).toBe(shownBefore);

      const token = /name="_csrf" value="([^"]+)"/.exec(confirm)![1]!;
      const done = await browser.request('POST', '/admin/tenant/sync', { _csrf: token, upn: 'jane@contoso.com' });
      expect(done.statusCode).toBe(303);
      expect(done.headers.location).toBe('/admin/tenant');
      const after = await page(done.headers.location as string);
      expect(after).toContain('Synced from the console: 1 pushed, 0 failed, 0 with nothing to do.');
      expect(after).toContain('<li>Jane Doe: the Exchange photo was pushed into SharePoint.</li>');
      expect(STATE_OF(after, 'jane@contoso.com')).toBe('in_step');
      expect(after).toMatch(/<tr data-upn="jane@contoso\.com"[^>]*>[\s\S]*?data-outcome="synced"/);
      expect(await tenantPicture(tenant, tenantToken, 'jane@contoso.com')).not.toBe(shownBefore);
      expect(await pushes()).toBe(1);
      // The notice is the acting admin's alone.
      const other = await makeUser(services, { isAdmin: true });
      const otherBrowser = new FormClient(app);
      await otherBrowser.signIn(other.upn, PASSWORD);
      expect((await otherBrowser.request('GET', done.headers.location as string)).body).not.toContain('Synced from');
      // Confirmed again: already in step, nothing read or written.
      const again = await page('/admin/tenant/sync?upn=jane%40contoso.com');
      expect(again).toContain('data-outcome="unchanged"');
      expect(again).toContain('Nothing to do: no picture in SharePoint would change.');
      expect(again).not.toContain('id="confirm-sync"');
    });

    it('Sync all out of step lists everyone it would push, then pushes exactly them', async () => {
      const confirm = await page('/admin/tenant/sync?all=1');
      expect(confirm).toContain('<h1>Sync everyone out of step?</h1>');
      const listed = [...confirm.matchAll(/<li data-upn="([^"]+)" data-outcome="(\w+)"/g)].map((m) => m[1]!);
      const expected = await outOfStep();
      expect(expected).not.toContain('jane@contoso.com');
      expect(expected).toContain('kalle@contoso.com');
      expect(listed).toEqual(expected);
      const changing = [...confirm.matchAll(/<li data-upn="([^"]+)" data-outcome="would_(push|remove)"/g)].map(
        (m) => m[1]!,
      );
      expect(confirm).toContain(`Yes, sync now (${changing.length})`);
      const token = /name="_csrf" value="([^"]+)"/.exec(confirm)![1]!;
      const done = await browser.request('POST', '/admin/tenant/sync', { _csrf: token, upn: changing });
      const after = await page(done.headers.location as string);
      expect(after).toContain(`Synced from the console: ${changing.length} pushed, 0 failed, 0 with nothing to do.`);
      expect(STATE_OF(after, 'kalle@contoso.com')).toBe('in_step');
      expect(after).not.toContain('Sync all out of step');
      expect(await outOfStep()).toEqual([]);
      pushedSoFar = await pushes();
      expect(pushedSoFar).toBeGreaterThanOrEqual(1 + changing.length);
    });

    it('refuses bad requests with the reason and changes nothing', async () => {
      const token = await browser.csrfToken('/admin/tenant/sync?upn=nestor%40contoso.com');
      const unknown = await browser.request('POST', '/admin/tenant/sync', { _csrf: token, upn: 'nobody@contoso.com' });
      expect(unknown.statusCode).toBe(404);
      expect(unknown.body).toContain('There is no such user.');
      expect(unknown.body).toContain('<h1>User not found</h1>');
      const noToken = await browser.request('POST', '/admin/tenant/sync', { upn: 'nestor@contoso.com' });
      expect(noToken.statusCode).toBe(403);
      await page('/admin/tenant/sync', 400);
      // The refusal keeps the console's navigation, the Microsoft 365 tab with it.
      expect(await page('/admin/tenant/sync?upn=nobody%40contoso.com', 404)).toContain('href="/admin/tenant"');
      expect(await pushes()).toBe(pushedSoFar);
      // Not an admin: refused before anything is read.
      const plain = await makeUser(services);
      const person = new FormClient(app);
      await person.signIn(plain.upn, PASSWORD);
      expect((await person.request('GET', '/admin/tenant')).statusCode).toBe(403);
      expect((await person.request('GET', '/admin/tenant/sync?all=1')).statusCode).toBe(403);
    });

    it('turns scheduled scans on in the settings, validated in both languages; the saved value wins over the environment', async () => {
      const settingsPage = await page('/admin/settings');
      expect(settingsPage).toContain('name="tenantScan"');
      expect(settingsPage).toMatch(
        /<input id="tenantScanMinutes" name="tenantScanMinutes" type="number"[^>]* min="15" max="43200" value="360"/,
      );
      const form = (extra: Record<string, string>) => ({
        _csrf: /name="_csrf" value="([^"]+)"/.exec(settingsPage)![1]!,
        sizeS: '48',
        sizeM: '72',
        sizeL: '300',
        recheckSeconds: '0',
        errorBackoffSeconds: '60',
        operatorSync: 'on',
        mailFrom: 'photosync@contoso.com',
        ...extra,
      });
      const et = new FormClient(app, 'et');
      await et.signIn(admin.upn, PASSWORD);
      const etToken = await et.csrfToken('/admin/settings');
      const tooOften = await et.request('POST', '/admin/settings', {
        ...form({ tenantScan: 'on', tenantScanMinutes: '5' }),
        _csrf: etToken,
      });
      expect(tooOften.statusCode).toBe(400);
      expect(tooOften.body).toContain('Sisesta ajastatud läbivaatuste vahe minutites täisarvuna vahemikus 15–43 200');
      const english = await browser.request(
        'POST',
        '/admin/settings',
        form({ tenantScan: 'on', tenantScanMinutes: '50000' }),
      );
      expect(english.statusCode).toBe(400);
      expect(english.body).toContain('Enter the minutes between scheduled scans as a whole number from 15 to 43200');
      expect((await services.settings.refresh()).tenantScan).toBe(false);

      const saved = await browser.request(
        'POST',
        '/admin/settings',
        form({ tenantScan: 'on', tenantScanMinutes: '30' }),
      );
      expect(saved.statusCode).toBe(303);
      const now = await services.settings.refresh();
      expect([now.tenantScan, now.tenantScanMinutes]).toEqual([true, 30]);
      // In connect mode the console's JSON API answers them with the rest.
      const answered = await browser.request('GET', '/admin/api/settings');
      expect(answered.statusCode).toBe(200);
      expect(JSON.parse(answered.body)).toMatchObject({ tenantScan: true, tenantScanMinutes: 30, operatorSync: true });
      expect(await page('/admin/tenant')).toContain('A scan runs by itself 30 minutes after the last one ended.');
      expect(await page('/admin/audit')).toContain(
        'scheduled tenant scans from off to on; minutes between tenant scans from 360 to 30',
      );

      // PHOTOSYNC_M365_SCAN_EVERY is only the starting value.
      const fromEnv = { ...services.config, m365: { ...services.config.m365!, scanEveryMs: 2 * 3_600_000 } };
      expect(defaultSettings(fromEnv)).toMatchObject({ tenantScan: true, tenantScanMinutes: 120 });
      expect(defaultSettings(services.config)).toMatchObject({ tenantScan: false, tenantScanMinutes: 360 });
      const off = await browser.request('POST', '/admin/settings', form({ tenantScanMinutes: '30' }));
      expect(off.statusCode).toBe(303);
      expect((await services.settings.refresh()).tenantScan).toBe(false);
    });
  });
}

describe('the tenant pages without connect mode', () => {
  const context = useTestApp('sqlite');
  it('are not there, and say why; the settings offer no tenant scans', async () => {
    const admin = await makeUser(context.services, { isAdmin: true });
    const browser = new FormClient(context.app);
    await browser.signIn(admin.upn, PASSWORD);
    const missing = await browser.request('GET', '/admin/tenant');
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toContain('Connect mode is not set up');
    expect((await browser.request('GET', '/admin')).body).not.toContain('href="/admin/tenant"');
    expect((await browser.request('GET', '/admin/settings')).body).not.toContain('tenantScan');
  });
});
