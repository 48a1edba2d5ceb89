import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { buildApp } from '../src/app.js';
import type { DirectoryUser } from '../src/directory/users.js';
import { createTenantScanner } from '../src/admin/tenant-scan.js';
import { scanTenant } from '../src/m365/scan.js';
import { claimScan, finishScan, latestScan } from '../src/m365/scans.js';
import type { Services } from '../src/services.js';
import { makeUser } from './support/factories.js';
import { HttpClient } from './support/http-client.js';
import { startM365Tenant, type M365Tenant } from './support/m365-tenant.js';
import { createTestStore, openTestServices, testDialects, useTestApp, type TestStore } from './support/services.js';
import { BIN, cleanEnv, freePort } from './support/tls-server.js';

// "Scan now" on the console's tenant page, over real HTTP against photosync playing the tenant: the
// form (with its token) starts a scan in the server, in the background, and comes back to the page,
// which shows the scan running and then its result; a click while a scan runs (this server's, or
// another instance's holding the lease) says so and starts nothing; the audit log says who started
// it. The tenant throttles Graph (one request every two seconds), so a scan lasts long enough for
// the second click to come while it runs. Both databases.

const PASSWORD = 'correct horse battery';
/** The console's notice on a page (the message the click left), or undefined. */
const notice = (html: string) => /<div class="notice notice-\w+" role="status"><p>([^<]*)<\/p>/.exec(html)?.[1];
const scanRows = async (services: Services) =>
  (await services.database.db.selectFrom('m365_scans').select(['id', 'status']).execute()).length;
const auditRows = (services: Services) =>
  services.database.db
    .selectFrom('admin_audit')
    .select(['actor_upn', 'detail'])
    .where('action', '=', 'tenant_scan_started')
    .execute();

describe('Scan now on the tenant page', { timeout: 240_000 }, () => {
  let tenant: M365Tenant;
  let connectEnv: Record<string, string>;
  beforeAll(async () => {
    // Scans only read the tenant: one serves both databases.
    tenant = await startM365Tenant({ env: { PHOTOSYNC_GRAPH_APP_LIMIT: '1/2s' } });
    const env = tenant.connect(await tenant.registerApp()).env;
    connectEnv = Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('PHOTOSYNC_M365_')));
  }, 120_000);
  afterAll(async () => {
    await tenant?.stop();
  });

  for (const dialect of testDialects()) {
    describe(`[${dialect}]`, () => {
      let store: TestStore;
      let services: Services;
      let app: App;
      let admin: DirectoryUser;
      let browser: HttpClient;
      beforeAll(async () => {
        store = await createTestStore(dialect);
        services = await openTestServices(store, connectEnv);
        app = await buildApp(services);
        const port = await freePort();
        await app.listen({ port, host: '127.0.0.1' });
        admin = await makeUser(services, { isAdmin: true, displayName: 'Ada Admin' });
        browser = new HttpClient(`http://127.0.0.1:${port}`);
        expect((await browser.signIn(admin.upn, PASSWORD)).status).toBe(303);
      }, 60_000);
      afterAll(async () => {
        await app?.close();
        await services?.close();
        await store?.drop();
      });

      const page = async (path: string, client = browser) => {
        const response = await client.request('GET', path);
        expect(response.status, response.body.slice(0, 300)).toBe(200);
        return response.body;
      };

      it('starts a scan in the background from the form, shows it running, says so at a second click, then shows the result', async () => {
        const before = await page('/admin/tenant');
        expect(before).toContain('The tenant has not been scanned yet.');
        expect(before).toContain('<form method="post" action="/admin/tenant/scan"');
        expect(before).toMatch(/<button type="submit" aria-describedby="scan-now-hint">Scan now<\/button>/);

        // Without the form's token: refused, nothing started.
        const forged = await browser.request('POST', '/admin/tenant/scan', { form: { _csrf: 'not-the-token' } });
        expect(forged.status).toBe(403);
        expect(await scanRows(services)).toBe(0);

        const token = /name="_csrf" value="([^"]+)"/.exec(before)![1]!;
        const started = await browser.request('POST', '/admin/tenant/scan', { form: { _csrf: token } });
        expect(started.status).toBe(303);
        expect(started.headers.get('location')).toBe('/admin/tenant');
        // The answer came once the scan held its lease, before it had read the tenant.
        expect(await latestScan(services.database.db)).toMatchObject({ status: 'running' });
        const running = await page('/admin/tenant');
        expect(notice(running)).toBe('The scan has started. Reload this page to follow its progress.');
        expect(running).toContain('data-scan="running"');
        expect(running).toMatch(/<progress max="\d+" value="\d+" aria-label="Scan progress">/);

        // A second click while it runs starts nothing, and says why.
        const again = await browser.request('POST', '/admin/tenant/scan', { form: { _csrf: token } });
        expect(again.status).toBe(303);
        const busy = await page(again.headers.get('location')!);
        expect(notice(busy)).toBe(
          'A scan of the tenant is already running, so no other was started. Its progress is below; reload this page to follow it.',
        );
        expect(busy).toContain('data-scan="running"');
        expect(await scanRows(services)).toBe(1);

        // The result, when it is done.
        const deadline = Date.now() + 120_000;
        while ((await latestScan(services.database.db))?.status === 'running' && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        const scan = (await latestScan(services.database.db))!;
        expect(scan.status).toBe('done');
        expect(scan.throttledWaits).toBeGreaterThan(0);
        const done = await page('/admin/tenant');
        expect(done).toContain(`${scan.usersDone} users read with ${scan.graphRequests} Graph requests`);
        expect(done).toMatch(/<tr data-upn="jane@contoso\.com"[^>]*>[\s\S]*?data-state="never_synced"/);
        // The notice was for the page after the click only.
        expect(notice(done)).toBeUndefined();

        // The audit log says who started it, once.
        expect(await auditRows(services)).toEqual([
          { actor_upn: admin.upn, detail: JSON.stringify({ scan: scan.id, resumed: false }) },
        ]);
        const audit = await page('/admin/audit');
        expect(audit).toMatch(
          new RegExp(`${admin.upn.replace(/\./g, '\\.')}[\\s\\S]*?Started a scan of the Microsoft 365 tenant\\.`),
        );
      });

      it('stops a scan it started when the server closes, at its next commit, its lease free for the next scan', async () => {
        const { db } = services.database;
        const scanner = createTenantScanner(services);
        const started = await scanner.start(admin);
        expect(started.kind).toBe('started');
        // What the server's close does: the scan stops at its next commit instead of running to its end.
        await scanner.settle();
        const stopped = await db
          .selectFrom('m365_scans')
          .select(['id', 'status', 'holder', 'lease_until'])
          .orderBy('started_at', 'desc')
          .executeTakeFirstOrThrow();
        expect(stopped).toMatchObject({ status: 'running', holder: null, lease_until: null });
        // The next scan, in any process, takes it up at once and ends it.
        const resumed = await scanTenant(services.m365!, db);
        expect(resumed.resumed).toBe(true);
        expect(resumed.scan).toMatchObject({ id: stopped.id, status: 'done' });
      });

      it('photosync m365 scan stops at Ctrl-C at its next commit and exits 130, its lease free for the next scan', async () => {
        const { db } = services.database;
        const heldScan = () =>
          db
            .selectFrom('m365_scans')
            .select(['id', 'status', 'holder'])
            .where('status', '=', 'running')
            .where('holder', 'is not', null)
            .executeTakeFirst();
        const child = spawn(process.execPath, [BIN, 'm365', 'scan'], {
          env: { ...cleanEnv(), ...store.env, ...connectEnv },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
        const deadline = Date.now() + 60_000;
        let held = await heldScan();
        while (!held && Date.now() < deadline && child.exitCode === null) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          held = await heldScan();
        }
        expect(held, stderr).toBeDefined();
        child.kill('SIGINT');
        expect(await closed, stderr).toBe(130);
        expect(stderr).toContain('photosync: stopping the scan at its next commit (Ctrl-C again to end at once)…');
        expect(stderr).toContain(
          'photosync: The scan was stopped before the end; the next scan takes it up where it stopped.',
        );
        const stopped = await db
          .selectFrom('m365_scans')
          .select(['status', 'holder'])
          .where('id', '=', held!.id)
          .executeTakeFirstOrThrow();
        expect(stopped).toEqual({ status: 'running', holder: null });
        const resumed = await scanTenant(services.m365!, db);
        expect(resumed.resumed).toBe(true);
        expect(resumed.scan).toMatchObject({ id: held!.id, status: 'done' });
      });

      it('starts nothing while another instance holds the scan’s lease, and says so in Estonian too', async () => {
        const { db } = services.database;
        const lease = { holder: 'elsewhere.example:4242:abcd', now: Date.now(), leaseMs: 10 * 60_000 };
        const other = await claimScan(db, lease, async () => null);
        expect(other.kind).toBe('claimed');
        try {
          const scans = await scanRows(services);
          const audits = (await auditRows(services)).length;
          const estonian = new HttpClient(browser.baseUrl, 'et');
          await estonian.signIn(admin.upn, PASSWORD);
          const token = await estonian.csrfToken('/admin/tenant');
          const refused = await estonian.request('POST', '/admin/tenant/scan', { form: { _csrf: token } });
          expect(refused.status).toBe(303);
          const busy = await page(refused.headers.get('location')!, estonian);
          expect(notice(busy)).toBe(
            'Rentniku läbivaatus juba käib, seega uut ei alustatud. Selle edenemine on näha allpool; jälgimiseks laadi leht uuesti.',
          );
          expect(busy).toContain('Käivita läbivaatus</button>');
          expect(await scanRows(services)).toBe(scans);
          expect(await auditRows(services)).toHaveLength(audits);
          expect(await latestScan(db)).toMatchObject({ id: other.scan.id, status: 'running' });
        } finally {
          await finishScan(db, other.scan.id, { ...lease, now: Date.now() }, { status: 'failed', error: 'test' });
        }
      });
    });
  }
});

describe('Scan now without connect mode', () => {
  const context = useTestApp('sqlite');
  it('is refused in words, and nothing is started', async () => {
    await context.app.listen({ port: await freePort(), host: '127.0.0.1' });
    const address = context.app.server.address() as { port: number };
    const admin = await makeUser(context.services, { isAdmin: true });
    const browser = new HttpClient(`http://127.0.0.1:${address.port}`);
    await browser.signIn(admin.upn, PASSWORD);
    const token = await browser.csrfToken('/admin');
    const refused = await browser.request('POST', '/admin/tenant/scan', { form: { _csrf: token } });
    expect(refused.status).toBe(404);
    expect(refused.body).toContain('Connect mode is not set up: photosync is its own organisation here.');
    expect(await scanRows(context.services)).toBe(0);
  });
});
