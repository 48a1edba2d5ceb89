import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/directory/apps.js';
import { tenantId } from '../src/directory/settings.js';
import type { Services } from '../src/services.js';
import { chromiumMissing, launchChromium } from './support/chromium.js';
import { makeUser } from './support/factories.js';
import { createTestStore, openTestServices, type TestStore } from './support/services.js';
import { freePort, startTlsServer, type TlsServer } from './support/tls-server.js';

// MSAL Browser, unchanged, in Chromium: a single-page app on another origin signs the user in
// with loginRedirect (authorization code with PKCE, redeemed from the browser without a secret,
// after a CORS preflight) against `photosync serve` over TLS, then gets a token silently.
// Run on SQLite: what it adds is the protocol as a browser speaks it; the queries behind it are
// run on both databases by the other entra tests.

// The package's browser build, as a page loads it from a <script> tag.
const MSAL_BROWSER = path.join(
  path.dirname(createRequire(import.meta.url).resolve('@azure/msal-browser/package.json')),
  'lib/msal-browser.min.js',
);
const PASSWORD = 'correct horse battery';
const browserMissing = chromiumMissing();

describe.skipIf(browserMissing)('MSAL Browser in Chromium against photosync serve over TLS', () => {
  let store: TestStore;
  let services: Services;
  let server: TlsServer;
  let browser: Browser;
  let spa: http.Server;
  let spaOrigin: string;

  beforeAll(async () => {
    store = await createTestStore('sqlite');
    services = await openTestServices(store);
    server = await startTlsServer(store);
    browser = await launchChromium([`--ignore-certificate-errors-spki-list=${server.spki}`]);
    const port = await freePort();
    spaOrigin = `http://localhost:${port}`;
    spa = http.createServer((request, response) => {
      const asked = new URL(request.url ?? '/', spaOrigin).pathname;
      if (asked === '/msal-browser.min.js') {
        response.writeHead(200, { 'content-type': 'text/javascript' }).end(fs.readFileSync(MSAL_BROWSER));
      } else if (asked === '/app.js') {
        response.writeHead(200, { 'content-type': 'text/javascript' }).end(spaScript);
      } else {
        response
          .writeHead(200, { 'content-type': 'text/html' })
          .end(
            '<!doctype html><title>SPA</title><pre id="result"></pre><script src="/msal-browser.min.js"></script><script src="/app.js"></script>',
          );
      }
    });
    await new Promise<void>((resolve) => spa.listen(port, 'localhost', resolve));
  }, 60_000);
  afterAll(async () => {
    await new Promise((resolve) => spa?.close(resolve));
    await browser?.close();
    await server?.stop();
    await services?.close();
    await store?.drop();
  });

  let spaScript = '';

  it('loginRedirect, handleRedirectPromise and acquireTokenSilent work with only authority and knownAuthorities', async () => {
    const user = await makeUser(services);
    const registered = await createApp(services.database.db, 'Photo SPA', ['User.Read'], {
      spaRedirectUris: [`${spaOrigin}/`],
    });
    const authority = `${server.baseUrl}/${await tenantId(services.database.db)}`;
    spaScript = `
      const show = (value) => { document.getElementById('result').textContent = JSON.stringify(value); };
      const app = new msal.PublicClientApplication({
        auth: { clientId: ${JSON.stringify(registered.clientId)}, authority: ${JSON.stringify(authority)},
                knownAuthorities: [${JSON.stringify(server.host)}], redirectUri: ${JSON.stringify(`${spaOrigin}/`)} },
        cache: { cacheLocation: 'localStorage' },
      });
      (async () => {
        await app.initialize();
        const result = await app.handleRedirectPromise();
        if (!result) return app.loginRedirect({ scopes: ['User.Read'] });
        const silent = await app.acquireTokenSilent({ account: result.account, scopes: ['User.Read'] });
        show({ username: result.account.username, oid: result.idTokenClaims.oid, token: result.accessToken.split('.').length,
               silentFromCache: silent.fromCache, scopes: result.scopes });
      })().catch((error) => show({ error: String(error && (error.errorCode || error.message) || error) }));
    `;
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${spaOrigin}/`);
    await page.waitForURL(`${server.baseUrl}/**`);
    await page.fill('#upn', user.upn);
    await page.fill('#password', PASSWORD);
    await page.click('form[action="/signin"] button[type=submit]');
    await page.waitForFunction(() => document.getElementById('result')?.textContent !== '', undefined, {
      timeout: 20_000,
    });
    const result = JSON.parse((await page.textContent('#result')) ?? '{}');
    expect(result).toEqual({
      username: user.upn,
      oid: user.id,
      token: 3,
      silentFromCache: true,
      scopes: expect.arrayContaining(['User.Read']),
    });
    await context.close();
  }, 60_000);
});
