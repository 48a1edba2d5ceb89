import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { readProfilePicture } from '../src/m365/sharepoint.js';
import { comparePictures, pictureFingerprint } from '../src/media/media.js';
import type { Services } from '../src/services.js';
import { axeViolations } from './browser/helpers.js';
import { chromiumMissing, launchChromium } from './support/chromium.js';
import { CONNECT_PERMISSIONS, startM365Tenant, type M365Tenant } from './support/m365-tenant.js';
import { createTestStore, openTestServices, type TestStore } from './support/services.js';
import { freePort } from './support/tls-server.js';

// The article's remedy in connect mode, in Chromium: a person signs in at photosync's portal with
// their Microsoft 365 account, through the tenant's own authorize endpoint and sign-in page, clicks
// SharePoint, and lands on the tenant's SharePoint, where userphoto.aspx already serves their
// Exchange photo with PictureURL, SPS-PicturePlaceholderState 0, SPS-PictureExchangeSyncState 1
// and SPS-PictureTimestamp set. The tenant is photosync over TLS (its demo organisation); the
// connect-mode photosync listens in this process so its history can be read.

const DEMO_PASSWORD = 'photosync-demo';

describe.skipIf(chromiumMissing())('connect mode in Chromium: sign in with Microsoft 365, open SharePoint', () => {
  let tenant: M365Tenant;
  let store: TestStore;
  let services: Services;
  let app: App;
  let browser: Browser;
  let portalUrl: string;

  beforeAll(async () => {
    tenant = await startM365Tenant();
    const port = await freePort();
    portalUrl = `http://127.0.0.1:${port}`;
    const registered = await tenant.registerApp({
      permissions: [...CONNECT_PERMISSIONS, 'User.Read'],
      redirectUris: [`${portalUrl}/signin/microsoft/callback`],
    });
    const connectEnv = tenant.connect(registered).env;
    store = await createTestStore('sqlite');
    services = await openTestServices(store, {
      ...Object.fromEntries(Object.entries(connectEnv).filter(([name]) => name.startsWith('PHOTOSYNC_M365_'))),
      PHOTOSYNC_PUBLIC_URL: portalUrl,
    });
    app = await buildApp(services);
    await app.listen({ host: '127.0.0.1', port });
    // Chromium trusts the tenant's certificate by its key, as the test run's CA is not in its store.
    browser = await launchChromium([`--ignore-certificate-errors-spki-list=${tenant.server.spki}`]);
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await services?.close();
    await store?.drop();
    await tenant?.stop();
  });

  it(
    'pushes the Exchange photo from the SharePoint tile; the tenant serves it on arrival',
    { timeout: 180_000 },
    async () => {
      const connection = services.m365!;
      const exchangePhoto = async () => {
        const graph = await connection.tokens.token('graph');
        const response = await fetch(`${tenant.url}/v1.0/users/jane@contoso.com/photos/240x240/$value`, {
          headers: { authorization: `Bearer ${graph}` },
        });
        expect(response.status).toBe(200);
        return Buffer.from(await response.arrayBuffer());
      };
      const sameAsExchange = async (served: Buffer) => {
        const [a, b] = await Promise.all([pictureFingerprint(served), pictureFingerprint(await exchangePhoto())]);
        if (!a.ok || !b.ok) throw new Error('a picture could not be read');
        return comparePictures(a.fingerprint, b.fingerprint);
      };

      // bypassCSP lets the injected axe run; nothing else changes.
      const context = await browser.newContext({ locale: 'en-GB', bypassCSP: true });
      const page = await context.newPage();
      await page.goto(`${portalUrl}/signin`);
      const found = await axeViolations(page);
      await page.click('[data-microsoft-sign-in]');
      // The tenant's own sign-in page, reached through its authorize endpoint.
      await page.waitForURL((url) => url.origin === tenant.url);
      expect(new URL(page.url()).pathname).toBe(`/${tenant.tenantId}/oauth2/v2.0/authorize`);
      await page.fill('#upn', 'jane@contoso.com');
      await page.fill('#password', DEMO_PASSWORD);
      await Promise.all([page.waitForURL(`${portalUrl}/`), page.click('form[action="/signin"] button[type=submit]')]);
      expect(await page.textContent('h1')).toBe('Hello, Jane Doe');
      found.push(...(await axeViolations(page)));
      // The same two pages in Estonian on a phone, with the same session.
      const phone = await browser.newContext({
        locale: 'et-EE',
        viewport: { width: 360, height: 800 },
        bypassCSP: true,
        storageState: await context.storageState(),
      });
      const etPage = await phone.newPage();
      for (const path of ['/', '/signin']) {
        await etPage.goto(`${portalUrl}${path}`);
        expect(await etPage.evaluate(() => document.documentElement.lang)).toBe('et');
        found.push(...(await axeViolations(etPage)));
      }
      await phone.close();
      expect(found).toEqual([]);

      // Before: the tenant's SharePoint shows Jane's placeholder, not her Exchange photo.
      const userphoto = `${tenant.url}/_layouts/15/userphoto.aspx?size=M&accountname=jane@contoso.com`;
      const before = await context.request.get(userphoto);
      expect(await sameAsExchange(await before.body())).not.toBe('same');

      const clicked = performance.now();
      await Promise.all([
        page.waitForURL(`${tenant.url}/_layouts/15/sharepoint.aspx`),
        page.click('form[action="/m365/launch/sharepoint"] button'),
      ]);
      const served = await context.request.get(userphoto);
      const arrivedMs = performance.now() - clicked;
      expect(served.status()).toBe(200);
      expect(await sameAsExchange(await served.body())).toBe('same');
      const profile = await readProfilePicture(connection.http, connection.settings, 'jane@contoso.com');
      expect(profile).toMatchObject({ kind: 'profile', placeholderState: 0, exchangeSyncState: 1 });
      if (profile.kind !== 'profile') throw new Error('no profile');
      expect(profile.pictureUrl).toContain('/User%20Photos/Profile%20Pictures/jane_contoso_com_MThumb.jpg');
      expect(profile.timestamp).toMatch(/^\d+$/);

      const history = await services.database.db
        .selectFrom('m365_push_attempts')
        .select(['trigger', 'outcome', 'etag_after'])
        .execute();
      expect(history).toEqual([{ trigger: 'sharepoint_tile', outcome: 'synced', etag_after: expect.any(String) }]);
      // A figure for the reader, not a limit: timing belongs in the benchmarks.
      console.log(`tile click → userphoto.aspx serving the Exchange photo: ${Math.round(arrivedMs)} ms`);
      await context.close();
    },
  );
});
