import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import type { DirectoryUser } from '../src/directory/users.js';
import { latestScan } from '../src/m365/scans.js';
import type { Services } from '../src/services.js';
import { axeViolations, loadsNewPage, serveAxe } from './browser/helpers.js';
import { chromiumMissing, launchChromium, listen } from './support/browser.js';
import { makeUser } from './support/factories.js';
import { startM365Tenant, type M365Tenant } from './support/m365-tenant.js';
import { createTestStore, openTestServices, type TestStore } from './support/services.js';

// The connect-mode console in real Chromium against photosync playing the tenant: the admin finds
// the tenant's users, allows syncing from the console and turns scheduled scans on in the settings,
// syncs one user and then everyone out of step, each through its dry run. axe finds nothing on
// these pages in English or Estonian.

const PASSWORD = 'correct horse battery';

describe.skipIf(chromiumMissing())('the connect-mode console in a browser', { timeout: 240_000 }, () => {
  let tenant: M365Tenant;
  let store: TestStore;
  let services: Services;
  let app: App;
  let base: string;
  let browser: Browser;
  let admin: DirectoryUser;
  /** axe-core over HTTP, so each tab compiles it once (serveAxe), not on every page it checks. */
  let axe: Awaited<ReturnType<typeof serveAxe>>;
  const violations = (page: Page) => axeViolations(page, axe.url);

  beforeAll(async () => {
    axe = await serveAxe();
    tenant = await startM365Tenant();
    const env = tenant.connect(await tenant.registerApp()).env;
    store = await createTestStore('sqlite');
    services = await openTestServices(
      store,
      Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('PHOTOSYNC_M365_'))),
    );
    ({ app, baseUrl: base } = await listen(services));
    browser = await launchChromium();
    admin = await makeUser(services, { isAdmin: true, displayName: 'Ada Admin' });
  }, 180_000);
  afterAll(async () => {
    await axe?.close();
    await browser?.close();
    await app?.close();
    await services?.close();
    await store?.drop();
    await tenant?.stop();
  });

  const signIn = async (locale: string): Promise<Page> => {
    // The pages' CSP allows no inline script; the injected axe is let through, nothing else changes.
    const page = await (await browser.newContext({ locale, bypassCSP: true })).newPage();
    await page.goto(`${base}/signin`);
    await page.fill('#upn', admin.upn);
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(`${base}/`), page.click('form[action="/signin"] button')]);
    return page;
  };
  const stateOf = (page: Page, upn: string) =>
    page.locator(`tr[data-upn="${upn}"] .state .badge`).getAttribute('data-state');

  it('finds every user, allows syncing, syncs one and then all out of step, each after its dry run', async () => {
    const found: string[] = [];
    const page = await signIn('en-GB');
    await page.goto(`${base}/admin`);
    await Promise.all([page.waitForURL(`${base}/admin/tenant`), page.click('nav >> text=Microsoft 365')]);
    expect(await page.locator('[data-scan="none"]').textContent()).toContain('has not been scanned yet');
    found.push(...(await violations(page)));

    // Scan now: the server starts the scan and the page comes back saying so; the result once it is done.
    await Promise.all([page.waitForURL(`${base}/admin/tenant`), page.click('#scan-now button')]);
    expect(await page.locator('.notice[role="status"]').textContent()).toBe(
      'The scan has started. Reload this page to follow its progress.',
    );
    found.push(...(await violations(page)));
    await expect.poll(async () => (await latestScan(services.database.db))?.status, { timeout: 60_000 }).toBe('done');
    await page.reload();
    expect(await page.locator('[data-scan="done"]').textContent()).toMatch(
      /^Finished .*: 6 users read with \d+ Graph requests\.$/,
    );
    expect(await stateOf(page, 'jane@contoso.com')).toBe('never_synced');
    expect(await page.locator('tr[data-upn="nestor@contoso.com"] .badge').textContent()).toBe('–No mail photo');
    await page.selectOption('#state', 'no_photo');
    await Promise.all([page.waitForURL(/state=no_photo/), page.click('.filters button')]);
    expect(await page.locator('tbody tr[data-upn]').count()).toBe(2);
    await page.fill('#search', 'nest');
    await Promise.all([page.waitForURL(/search=nest/), page.click('.filters button')]);
    expect(await page.locator('tbody tr[data-upn]').count()).toBe(1);
    found.push(...(await violations(page)));

    // Settings: allow syncing from the console; scheduled scans every 30 minutes.
    await page.goto(`${base}/admin/settings`);
    await page.check('input[name="operatorSync"]');
    await page.check('input[name="tenantScan"]');
    await page.fill('#tenantScanMinutes', '30');
    found.push(...(await violations(page)));
    await loadsNewPage(page, () => page.click('form[action="/admin/settings"] button[type=submit]'));
    expect((await services.settings.refresh()).tenantScan).toBe(true);

    await page.goto(`${base}/admin/tenant`);
    expect(await page.locator('text=A scan runs by itself 30 minutes after the last one ended.').count()).toBe(1);
    await Promise.all([
      page.waitForURL(/\/admin\/tenant\/sync\?upn=/),
      page.click('[aria-label="Sync now: Jane Doe"]'),
    ]);
    expect(await page.locator('h1').textContent()).toBe('Sync Jane Doe now?');
    expect(await page.locator('li[data-upn="jane@contoso.com"]').textContent()).toBe(
      'Jane Doe: would push the Exchange photo into SharePoint.',
    );
    found.push(...(await violations(page)));
    await Promise.all([page.waitForURL(`${base}/admin/tenant`), page.click('#confirm-sync')]);
    expect(await page.locator('.notice').textContent()).toContain('Synced from the console: 1 pushed, 0 failed');
    expect(await stateOf(page, 'jane@contoso.com')).toBe('in_step');
    found.push(...(await violations(page)));

    await Promise.all([page.waitForURL(/all=1/), page.click('#sync-all')]);
    expect(await page.locator('h1').textContent()).toBe('Sync everyone out of step?');
    const changing = await page.locator('li[data-outcome^="would_"]').count();
    expect(await page.locator('li[data-upn="kalle@contoso.com"]').getAttribute('data-outcome')).toBe('would_push');
    await Promise.all([page.waitForURL(`${base}/admin/tenant`), page.click('#confirm-sync')]);
    expect(await page.locator('.notice').textContent()).toContain(`${changing} pushed, 0 failed`);
    expect(await page.locator('#sync-all').count()).toBe(0);

    // The same pages in Estonian.
    const et = await signIn('et-EE');
    for (const path of ['/admin/tenant', '/admin/tenant/sync?upn=kalle%40contoso.com', '/admin/settings']) {
      await et.goto(`${base}${path}`);
      found.push(...(await violations(et)).map((v) => `et ${v}`));
    }
    expect(await et.locator('h1').first().textContent()).toBe('Sätted');
    // And both languages on a phone.
    for (const [lang, window] of [
      ['en', page],
      ['et', et],
    ] as const) {
      await window.setViewportSize({ width: 360, height: 800 });
      for (const path of ['/admin/tenant', '/admin/tenant/sync?upn=kalle%40contoso.com', '/admin/settings']) {
        await window.goto(`${base}${path}`);
        found.push(...(await violations(window)).map((v) => `${lang} 360 px ${v}`));
      }
    }
    expect(found).toEqual([]);
  });
});
