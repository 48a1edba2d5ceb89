import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { DirectoryUser } from '../../src/directory/users.js';
import type { Services } from '../../src/services.js';
import { chromiumMissing, useBrowser, useServer } from '../support/browser.js';
import { giveMailPhoto, makeUser, solidJpeg } from '../support/factories.js';
import { useTestServices } from '../support/services.js';
import { signIn } from './helpers.js';

// axe-core over the pages a person and an administrator use, with the suite bar's menus open, in
// both languages, on a laptop and a phone: no violations.

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

  // One test per language and width, so that each stays well inside its time on a loaded machine.
  const CASES = ['en-GB', 'et-EE'].flatMap((locale) => [1366, 360].map((width) => [locale, width] as const));
  let user: DirectoryUser;
  let admin: DirectoryUser;
  let nobody: DirectoryUser;
  beforeAll(async () => {
    user = await makeUser(services, { displayName: 'Jane Doe' });
    await giveMailPhoto(services, user, await solidJpeg([200, 30, 40]));
    await services.sync.sync(user, 'admin');
    // A newer photo, so the pages show the lagging-sites notice too.
    await giveMailPhoto(services, user, await solidJpeg([30, 160, 70]));
    admin = await makeUser(services, { displayName: 'Ada Admin', isAdmin: true });
    await giveMailPhoto(services, admin, await solidJpeg([30, 160, 70]));
    nobody = await makeUser(services, { displayName: 'Nestor Nophoto' });
  });

  /** A window in this language and width. The pages' CSP allows no inline script; the test's injected axe is let through, nothing else changes. */
  const openPage = async (locale: string, width: number) => {
    const window = await chromium.browser.newContext({ locale, viewport: { width, height: 800 }, bypassCSP: true });
    return { window, page: await window.newPage() };
  };

  for (const [locale, width] of CASES) {
    it(`has no axe violations on the user pages (${locale}, ${width} px)`, async () => {
      const { window, page } = await openPage(locale, width);
      const found: string[] = [];
      await page.goto(`${server.baseUrl}/signin`);
      found.push(...(await violations(page)));
      await signIn(page, server.baseUrl, user.upn);
      for (const path of PAGES) {
        await page.goto(`${server.baseUrl}${path}`);
        found.push(...(await violations(page)));
      }
      await window.close();
      expect(found).toEqual([]);
    });

    it(`has no axe violations in the open menus and the admin console (${locale}, ${width} px)`, async () => {
      const { window, page } = await openPage(locale, width);
      const found: string[] = [];
      await signIn(page, server.baseUrl, admin.upn);
      for (const menu of ['.launcher', '.account']) {
        await page.goto(`${server.baseUrl}/`);
        await page.click(`.suite-bar ${menu} > button`);
        found.push(...(await violations(page)).map((v) => `${menu} open: ${v}`));
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
        found.push(...(await violations(page)));
      }
      await window.close();
      expect(found).toEqual([]);
    });
  }
});
