import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryUser } from '../src/directory/users.js';
import type { App } from '../src/app.js';
import type { Services } from '../src/services.js';
import { translator, type Locale } from '../src/web/i18n.js';
import { loadsNewPage, PASSWORD } from './browser/helpers.js';
import { chromiumMissing, launchChromium, listen } from './support/browser.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import { createTestStore, openTestServices, type TestStore } from './support/services.js';

// The admin console in real Chromium, in English and in Estonian: why each person was not asked
// to sync, "Ask to sync" only where it helps, a warning before asking twice, and the search.

const LOCALES: Array<[Locale, string]> = [
  ['en', 'en-GB'],
  ['et', 'et-EE'],
];

// A shared machine can be slow; a generous limit, not a timing assertion.
describe.skipIf(chromiumMissing())('admin console in both languages', { timeout: 180_000 }, () => {
  let store: TestStore;
  let services: Services;
  let app: App;
  let base: string;
  let browser: Browser;
  let admin: DirectoryUser;

  beforeAll(async () => {
    store = await createTestStore('sqlite');
    services = await openTestServices(store);
    ({ app, baseUrl: base } = await listen(services));
    browser = await launchChromium();
    admin = await makeUser(services, { isAdmin: true, displayName: 'Ada Admin' });
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await services?.close();
    await store?.drop();
  });

  const adminIn = async (locale: string): Promise<Page> => {
    const page = await (await browser.newContext({ locale })).newPage();
    await page.goto(`${base}/signin`);
    await page.fill('#upn', admin.upn);
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(`${base}/`), page.click('form[action="/signin"] button[type=submit]')]);
    return page;
  };

  describe.each(LOCALES)('in %s', (locale, browserLocale) => {
    const t = translator(locale);
    let nestor: DirectoryUser;
    let lee: DirectoryUser;
    let jane: DirectoryUser;

    beforeAll(async () => {
      nestor = await makeUser(services, { displayName: `Nestor Nophoto ${locale}` });
      lee = await makeUser(services, { displayName: `Lee Nomailbox ${locale}`, hasMailbox: false });
      jane = await makeUser(services, { displayName: `Jane Changed ${locale}` });
      await makeUser(services, { displayName: `Kalle Kask ${locale}`, upn: `kalle.${locale}@contoso.com` });
      await giveMailPhoto(services, jane, await solidJpeg([200, 30, 30], 96));
      await services.sync.sync(jane, 'sharepoint_tile');
      await giveMailPhoto(services, jane, await solidJpeg([30, 30, 200], 96));
    });

    it('says why each person was not asked', async () => {
      const page = await adminIn(browserLocale);
      await page.goto(`${base}/admin/users?sort=name`);
      await page.locator(`tr[data-upn="${nestor.upn}"] input[type=checkbox]`).check();
      await page.locator(`tr[data-upn="${lee.upn}"] input[type=checkbox]`).check();
      await loadsNewPage(page, () => page.click('#prompt-selected'));
      const notice = page.locator('[role=status]');
      expect(await notice.locator('p').first().textContent()).toBe(t('admin.notice.nothingToAsk'));
      // In the table's order (by name): Lee, then Nestor.
      expect(await notice.locator('li').allTextContents()).toEqual([
        t('admin.skip.no_mailbox', { name: lee.displayName }),
        t('admin.skip.no_photo', { name: nestor.displayName }),
      ]);
    });

    it('offers "Ask to sync" only where it helps, and warns before asking again', async () => {
      const page = await adminIn(browserLocale);
      await page.goto(`${base}/admin/users/${encodeURIComponent(nestor.upn)}`);
      expect(await page.locator('form[action="/admin/prompts"] button').count()).toBe(0);
      expect(await page.locator('#cannot-prompt').textContent()).toBe(
        t('admin.detail.cannotPrompt', { reason: t('admin.stateText.no_photo') }),
      );

      await page.goto(`${base}/admin/users/${encodeURIComponent(jane.upn)}`);
      expect(await page.locator('#asked-before').count()).toBe(0);
      await loadsNewPage(page, () => page.click('form[action="/admin/prompts"] button'));
      expect(await page.locator('[role=status] p').first().textContent()).toBe(t('admin.notice.prompted', { n: 1 }));
      expect(await page.locator('#asked-before').textContent()).toContain(admin.upn);

      await loadsNewPage(page, () => page.click('form[action="/admin/prompts"] button'));
      expect(await page.locator('[role=status] li').allTextContents()).toEqual([
        t('admin.notice.askedAgain', { names: jane.upn }),
      ]);
    });

    it('finds a surname, selects all, and answers "nothing selected" beside the table', async () => {
      const page = await adminIn(browserLocale);
      await page.goto(`${base}/admin/users`);
      await page.fill('#search', `kask ${locale}`);
      await Promise.all([page.waitForURL(/search=/), page.click('.filters button')]);
      expect(await page.locator('tbody tr').count()).toBe(1);
      expect(await page.locator(`tr[data-upn="kalle.${locale}@contoso.com"]`).count()).toBe(1);

      await page.goto(`${base}/admin/users?sort=name`);
      await page.check('input[data-select-all]');
      const boxes = page.locator('tbody input[type=checkbox][name=upn]');
      expect(await boxes.count()).toBeGreaterThan(3);
      expect(await boxes.evaluateAll((all) => all.every((b) => (b as HTMLInputElement).checked))).toBe(true);
      await page.uncheck('input[data-select-all]');

      await loadsNewPage(page, () => page.click('#prompt-selected'));
      expect(await page.locator('[role=alert]').textContent()).toBe(t('admin.error.nothingSelected'));
      expect(await page.locator('h1').textContent()).toBe(t('admin.users.title'));

      await page.goto(`${base}/admin/users?search=nobody-matches-this`);
      expect(await page.locator('#prompt-selected').count()).toBe(0);
      expect(await page.textContent('main')).toContain(t('admin.users.empty'));
    });
  });
});
