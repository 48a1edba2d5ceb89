import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { Services } from '../../src/services.js';
import { chromiumMissing, useBrowser, useServer } from '../support/browser.js';
import { giveMailPhoto, makeUser, solidJpeg } from '../support/factories.js';
import { useTestServices } from '../support/services.js';
import { signIn } from './helpers.js';

// axe-core over the pages a person uses, in both languages, on a laptop and a phone: no violations.

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const PAGES = [
  '/',
  '/profile-photo',
  '/profile-photo?remove=confirm',
  '/help/profile-picture-sync',
  '/outlook',
  '/_layouts/15/sharepoint.aspx',
  '/_layouts/15/onedrive.aspx',
  '/_layouts/15/person.aspx',
  '/nope',
];

interface AxeResult {
  violations: Array<{ id: string; nodes: Array<{ target: unknown }> }>;
}

async function violations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(
    () => (window as unknown as { axe: { run(): Promise<AxeResult> } }).axe.run() as Promise<AxeResult>,
  );
  return result.violations.map((v) => `${page.url()}: ${v.id} ${JSON.stringify(v.nodes.map((n) => n.target))}`);
}

describe.skipIf(chromiumMissing())('accessibility of the user pages', { timeout: 180_000 }, () => {
  const context = useTestServices('sqlite');
  let services: Services;
  beforeAll(() => ({ services } = context));
  const server = useServer(() => context.services);
  const chromium = useBrowser();

  it('has no axe violations in English and Estonian at 1366 and 360 px', async () => {
    const user = await makeUser(services, { displayName: 'Jane Doe' });
    await giveMailPhoto(services, user, await solidJpeg([200, 30, 40]));
    await services.sync.sync(user, 'admin');
    // A newer photo, so the pages show the lagging-sites notice too.
    await giveMailPhoto(services, user, await solidJpeg([30, 160, 70]));
    const found: string[] = [];
    for (const locale of ['en-GB', 'et-EE']) {
      for (const width of [1366, 360]) {
        // The pages' CSP allows no inline script; the test's injected axe is let through, nothing else changes.
        const window = await chromium.browser.newContext({ locale, viewport: { width, height: 800 }, bypassCSP: true });
        const page = await window.newPage();
        await page.goto(`${server.baseUrl}/signin`);
        found.push(...(await violations(page)));
        await signIn(page, server.baseUrl, user.upn);
        for (const path of PAGES) {
          await page.goto(`${server.baseUrl}${path}`);
          found.push(...(await violations(page)).map((v) => `${locale} ${width}px ${v}`));
        }
        await window.close();
      }
    }
    expect(found).toEqual([]);
  });

  it('has no axe violations in the admin console and the open menus, in both languages and widths', async () => {
    const admin = await makeUser(services, { displayName: 'Ada Admin', isAdmin: true });
    await giveMailPhoto(services, admin, await solidJpeg([30, 160, 70]));
    const nobody = await makeUser(services, { displayName: 'Nestor Nophoto' });
    const found: string[] = [];
    for (const locale of ['en-GB', 'et-EE']) {
      for (const width of [1366, 360]) {
        const window = await chromium.browser.newContext({ locale, viewport: { width, height: 800 }, bypassCSP: true });
        const page = await window.newPage();
        await signIn(page, server.baseUrl, admin.upn);
        const where = `${locale} ${width}px`;
        for (const menu of ['.launcher', '.account']) {
          await page.goto(`${server.baseUrl}/`);
          await page.click(`.suite-bar ${menu} > button`);
          found.push(...(await violations(page)).map((v) => `${where} ${menu} open ${v}`));
        }
        for (const path of [
          '/admin',
          '/admin/users',
          `/admin/users/${encodeURIComponent(admin.upn)}`,
          `/admin/users/${encodeURIComponent(nobody.upn)}`,
          '/admin/settings',
          '/admin/audit',
        ]) {
          await page.goto(`${server.baseUrl}${path}`);
          found.push(...(await violations(page)).map((v) => `${where} ${v}`));
        }
        await window.close();
      }
    }
    expect(found).toEqual([]);
  });
});
