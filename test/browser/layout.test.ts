import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import type { DirectoryUser } from '../../src/directory/users.js';
import type { Services } from '../../src/services.js';
import { PLACEHOLDER_PATH } from '../../src/sites/placeholder.js';
import { en } from '../../src/web/messages/en.js';
import { et } from '../../src/web/messages/et.js';
import { chromiumMissing, useBrowser, useServer } from '../support/browser.js';
import { giveMailPhoto, makeUser, solidJpeg } from '../support/factories.js';
import { useTestServices } from '../support/services.js';
import { englishOn, loadsNewPage, signIn } from './helpers.js';

// The page frame in Chromium, in English and Estonian, on a laptop (1366 px) and a phone (360 px):
// the app launcher and the account menu by mouse and by keyboard (and without script), the home
// tiles at equal widths, one page width for the portal and the console, nothing scrolling
// sideways, and the placeholder picture wherever a photo is missing.

const LOCALES = [
  ['en', 'en-GB', en],
  ['et', 'et-EE', et],
] as const;
const WIDTHS = [1366, 360] as const;

/** Whether the page needs sideways scrolling. */
const overflows = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);

const focusedIn = (page: Page, selector: string) =>
  page.evaluate((s) => document.activeElement?.closest(s) !== null, selector);

const expanded = (button: Locator) => button.getAttribute('aria-expanded');

/** The element's box lies within the window's width. */
async function fitsWidth(page: Page, locator: Locator): Promise<boolean> {
  const box = await locator.boundingBox();
  const width = page.viewportSize()?.width ?? 0;
  return box !== null && box.x >= 0 && box.x + box.width <= width + 0.5;
}

/** Every image with the placeholder's address has loaded as a real picture. */
async function placeholdersLoaded(locator: Locator): Promise<boolean[]> {
  return locator.evaluateAll((images) =>
    Promise.all(
      (images as HTMLImageElement[]).map((img) =>
        img.complete
          ? img.naturalWidth > 0
          : new Promise<boolean>((resolve) => {
              img.addEventListener('load', () => resolve(img.naturalWidth > 0), { once: true });
              img.addEventListener('error', () => resolve(false), { once: true });
            }),
      ),
    ),
  );
}

describe.skipIf(chromiumMissing())('the page frame in Chromium', { timeout: 240_000 }, () => {
  const context = useTestServices('sqlite');
  let services: Services;
  const server = useServer(() => context.services);
  const chromium = useBrowser();
  let admin: DirectoryUser;
  let nestor: DirectoryUser;
  let lee: DirectoryUser;
  beforeAll(async () => {
    ({ services } = context);
    admin = await makeUser(services, { displayName: 'Ada Admin', isAdmin: true });
    await giveMailPhoto(services, admin, await solidJpeg([30, 160, 70], 200));
    nestor = await makeUser(services, { displayName: 'Nestor Nophoto' });
    lee = await makeUser(services, { displayName: 'Lee Nomailbox', hasMailbox: false });
  });
  const open: BrowserContext[] = [];
  const newPage = async (locale: string, width: number, javaScriptEnabled = true) => {
    const window = await chromium.browser.newContext({ locale, viewport: { width, height: 800 }, javaScriptEnabled });
    open.push(window);
    return window.newPage();
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  for (const [lang, locale, t] of LOCALES) {
    for (const width of WIDTHS) {
      it(`opens the app launcher by mouse and by keyboard (${lang}, ${width} px)`, async () => {
        const page = await newPage(locale, width);
        await signIn(page, server.baseUrl, admin.upn);
        const waffle = page.locator('.suite-bar .launcher > button');
        const panel = page.locator('#app-launcher');
        expect(await waffle.getAttribute('aria-label')).toBe(t['suite.launcher']);
        expect(await waffle.getAttribute('aria-controls')).toBe('app-launcher');
        expect(await expanded(waffle)).toBe('false');
        expect(await panel.isVisible()).toBe(false);

        // By mouse: the tiles, each as wide as the others, inside the window; a click elsewhere closes it.
        await waffle.click();
        expect(await expanded(waffle)).toBe('true');
        expect(await panel.isVisible()).toBe(true);
        const apps = panel.locator('.launcher-app');
        expect((await apps.allTextContents()).map((s) => s.trim())).toEqual([
          'Outlook',
          'OneDrive',
          'SharePoint',
          t['suite.portalHome'],
        ]);
        const widths = await apps.evaluateAll((elements) => elements.map((e) => e.getBoundingClientRect().width));
        expect(Math.max(...widths) - Math.min(...widths)).toBeLessThan(1);
        expect(await fitsWidth(page, panel)).toBe(true);
        expect(await overflows(page)).toBe(false);
        if (lang === 'et') expect(await englishOn(page)).toEqual([]);
        await page.mouse.click(width / 2, 790);
        expect(await expanded(waffle)).toBe('false');
        expect(await panel.isVisible()).toBe(false);

        // By keyboard: Tab from the skip link reaches the waffle; Enter opens the launcher with
        // focus on its first app, Escape closes it and gives focus back.
        await page.focus('.skip-link');
        await page.keyboard.press('Tab');
        expect(await focusedIn(page, '.launcher > button')).toBe(true);
        await page.keyboard.press('Enter');
        expect(await expanded(waffle)).toBe('true');
        expect(await page.evaluate(() => document.activeElement?.getAttribute('href'))).toBe('/outlook');
        await page.keyboard.press('Escape');
        expect(await expanded(waffle)).toBe('false');
        expect(await focusedIn(page, '.launcher > button')).toBe(true);
        // Space opens it too; tabbing past the last app closes it.
        await page.keyboard.press('Space');
        expect(await expanded(waffle)).toBe('true');
        for (let i = 0; i < 4; i++) await page.keyboard.press('Tab');
        expect(await focusedIn(page, '#app-launcher')).toBe(false);
        expect(await expanded(waffle)).toBe('false');

        // SharePoint from the launcher, by keyboard, is the user's action: it syncs, then opens.
        await waffle.focus();
        await page.keyboard.press('Enter');
        await page.keyboard.press('Tab');
        await page.keyboard.press('Tab');
        expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).toBe('SharePoint');
        await loadsNewPage(page, () => page.keyboard.press('Enter'));
        expect(new URL(page.url()).pathname).toBe('/_layouts/15/sharepoint.aspx');
        expect(await page.locator('[data-sync-result]').count()).toBe(1);
      });

      it(`opens the account menu by mouse and by keyboard (${lang}, ${width} px)`, async () => {
        const page = await newPage(locale, width);
        await signIn(page, server.baseUrl, admin.upn);
        const me = page.locator('.suite-bar .account > button');
        const panel = page.locator('#account-menu');
        expect(await expanded(me)).toBe('false');
        expect(await me.locator('img').getAttribute('alt')).toBe(t['suite.me'].replace('{name}', admin.displayName));

        await me.click();
        expect(await expanded(me)).toBe('true');
        expect(await panel.isVisible()).toBe(true);
        expect(await fitsWidth(page, panel)).toBe(true);
        expect(await overflows(page)).toBe(false);
        // The profile photo, the way to change it, the language and signing out.
        const photo = panel.locator('img.account-photo');
        expect(await photo.getAttribute('src')).toMatch(/^\/portal\/photo\?/);
        expect(await placeholdersLoaded(photo)).toEqual([true]);
        expect(await panel.locator('.account-name').textContent()).toBe(admin.displayName);
        const change = panel.locator('a.account-change');
        expect(await change.textContent()).toBe(t['home.changePhoto']);
        expect(await change.getAttribute('href')).toBe('/profile-photo');
        expect(await panel.locator('.lang-switch button').textContent()).toBe(lang === 'en' ? 'Eesti' : 'English');
        expect(await panel.locator('form[action="/signout"] button').textContent()).toBe(t['signout.submit']);
        if (lang === 'et') expect(await englishOn(page)).toEqual([]);

        // Opening the launcher closes the account menu: one menu at a time.
        await page.click('.suite-bar .launcher > button');
        expect(await expanded(me)).toBe('false');
        expect(await panel.isVisible()).toBe(false);
        await page.keyboard.press('Escape');

        // By keyboard: Enter opens it with focus on its first item, Escape closes it.
        await me.focus();
        await page.keyboard.press('Enter');
        expect(await expanded(me)).toBe('true');
        expect(await focusedIn(page, '#account-menu')).toBe(true);
        expect(await page.evaluate(() => document.activeElement?.getAttribute('href'))).toBe('/profile-photo');
        await page.keyboard.press('Escape');
        expect(await expanded(me)).toBe('false');
        expect(await focusedIn(page, '.account > button')).toBe(true);

        // The language from the menu, by keyboard: same page, the other language.
        await page.keyboard.press('Enter');
        await page.keyboard.press('Tab');
        await loadsNewPage(page, () => page.keyboard.press('Enter'));
        expect(await page.getAttribute('html', 'lang')).toBe(lang === 'en' ? 'et' : 'en');
        expect(page.url()).toBe(`${server.baseUrl}/`);

        // Signing out from the menu, by mouse.
        await page.click('.suite-bar .account > button');
        await loadsNewPage(page, () => page.click('#account-menu form[action="/signout"] button'));
        expect(new URL(page.url()).pathname).toBe('/signin');
      });
    }

    it(`opens both menus without script, as details (${lang})`, async () => {
      const page = await newPage(locale, 360, false);
      await signIn(page, server.baseUrl, lee.upn);
      await page.click('.suite-bar .launcher > summary');
      expect(await page.locator('#app-launcher').isVisible()).toBe(true);
      expect(await page.locator('#app-launcher .launcher-app').count()).toBe(4);
      await page.click('.suite-bar .account > summary');
      const account = page.locator('#account-menu');
      expect(await account.isVisible()).toBe(true);
      // Lee has no mailbox: his picture is changed in SharePoint.
      const change = account.locator('a.account-change');
      expect(await change.getAttribute('href')).toBe('/_layouts/15/editprofile.aspx');
      expect(await change.textContent()).toBe(t['home.uploadInSites']);
      expect(await account.locator('[data-initials]').textContent()).toBe('LN');
      await loadsNewPage(page, () => page.click('#account-menu form[action="/signout"] button'));
      expect(new URL(page.url()).pathname).toBe('/signin');
    });

    for (const width of WIDTHS) {
      it(`gives the tiles equal widths and scrolls nothing sideways (${lang}, ${width} px)`, async () => {
        const page = await newPage(locale, width);
        await signIn(page, server.baseUrl, admin.upn);
        const tiles = page.locator('.tiles .tile');
        const boxes = await tiles.evaluateAll((elements) =>
          elements.map((e) => {
            const r = e.getBoundingClientRect();
            return { width: r.width, height: r.height, right: r.right };
          }),
        );
        expect(boxes).toHaveLength(3);
        const tileWidths = boxes.map((b) => b.width);
        expect(Math.max(...tileWidths) - Math.min(...tileWidths)).toBeLessThan(1);
        for (const box of boxes) expect(box.right).toBeLessThanOrEqual(width);
        // OneDrive's icon is a picture (a cloud), not a letter.
        expect(await page.locator('.tile-onedrive .tile-icon svg path').count()).toBe(1);
        expect((await page.locator('.tile-onedrive .tile-icon').textContent())?.trim()).toBe('');

        const mainWidth = () => page.locator('main').evaluate((m) => m.getBoundingClientRect().width);
        const portalWidth = await mainWidth();
        const paths = [
          '/',
          '/profile-photo',
          '/help/profile-picture-sync',
          '/_layouts/15/sharepoint.aspx',
          '/_layouts/15/onedrive.aspx',
          '/admin',
          '/admin/users',
          `/admin/users/${encodeURIComponent(nestor.upn)}`,
          '/admin/settings',
          '/admin/audit',
          '/nope',
        ];
        const wide: string[] = [];
        for (const path of paths) {
          await page.goto(`${server.baseUrl}${path}`);
          if (await overflows(page)) wide.push(path);
          // The console and the portal share one page width.
          expect(await mainWidth()).toBe(portalWidth);
        }
        expect(wide).toEqual([]);
      });
    }

    it(`keeps the console's state table and a name of 256 letters within a phone's width (${lang})`, async () => {
      const page = await newPage(locale, 360);
      await signIn(page, server.baseUrl, admin.upn);
      // Every state's badge is in the overview's table (Estonian's are the longest words).
      await page.goto(`${server.baseUrl}/admin`);
      const table = await page
        .locator('.admin table')
        .first()
        .evaluate((t) => ({
          right: t.getBoundingClientRect().right,
          room: t.parentElement!.getBoundingClientRect().right,
        }));
      expect(table.right).toBeLessThanOrEqual(table.room + 0.5);
      // The wide tables stack, a row to a block and each cell named by its column: nothing in the
      // console scrolls sideways either.
      await services.sync.sync(admin, 'admin');
      for (const path of ['/admin/users', `/admin/users/${encodeURIComponent(admin.upn)}`]) {
        await page.goto(`${server.baseUrl}${path}`);
        const console = page.locator('.admin');
        expect(await console.evaluate((c) => c.scrollWidth <= c.clientWidth), path).toBe(true);
        const named = await page
          .locator('.admin table.stack td[data-label]')
          .evaluateAll((cells) =>
            cells.map((c) => [c.getAttribute('data-label'), getComputedStyle(c, '::before').content]),
          );
        expect(named.length, path).toBeGreaterThan(0);
        for (const [label, shown] of named) expect(shown).toContain(JSON.stringify(label));
      }
      expect(
        await page
          .locator('.admin table.stack td[data-label]')
          .evaluateAll((cells) => cells.map((c) => c.getAttribute('data-label'))),
      ).toContain(t['admin.detail.outcome']);
      const long = await makeUser(services, { displayName: `Väga${'pikk'.repeat(60)} Nimi`.slice(0, 256) });
      for (const path of ['/', `/_layouts/15/person.aspx?accountname=${encodeURIComponent(long.upn)}`]) {
        await page.goto(`${server.baseUrl}${path}`);
        expect(await overflows(page), path).toBe(false);
      }
      const own = await newPage(locale, 360);
      await signIn(own, server.baseUrl, long.upn);
      expect(await overflows(own)).toBe(false);
    });

    it(`shows the placeholder picture where a photo is missing, never "None" (${lang})`, async () => {
      const page = await newPage(locale, 1366);
      await signIn(page, server.baseUrl, admin.upn);
      const none = lang === 'en' ? 'None' : 'Puudub';

      // The users list: Nestor has no mail photo, so the placeholder stands in its column.
      await page.goto(`${server.baseUrl}/admin/users?search=Nophoto`);
      const row = page.locator(`tr[data-upn="${nestor.upn}"]`);
      const missing = row.locator('img[data-placeholder]');
      expect(await missing.getAttribute('src')).toBe(PLACEHOLDER_PATH);
      expect(await missing.getAttribute('alt')).toBe(t['admin.users.noMailAlt'].replace('{name}', nestor.displayName));
      expect(await placeholdersLoaded(missing)).toEqual([true]);

      // His page: no mail photo, no directory photo, nothing in the sites: pictures, not words.
      await page.goto(`${server.baseUrl}/admin/users/${encodeURIComponent(nestor.upn)}`);
      const placeholders = page.locator('main img[data-placeholder]');
      expect(await placeholders.count()).toBe(3);
      expect(await placeholders.evaluateAll((images) => images.map((i) => i.getAttribute('src')))).toEqual(
        Array(3).fill(PLACEHOLDER_PATH),
      );
      expect(await placeholdersLoaded(placeholders)).toEqual([true, true, true]);
      expect(
        await page.locator('main img[alt]').evaluateAll((images) => images.map((i) => i.getAttribute('alt'))),
      ).toEqual(expect.arrayContaining([t['admin.detail.noMailPhoto'], t['admin.detail.noDirectoryPhoto']]));
      // The captions say so too, and never that the sites do not use a directory photo he does not have.
      const captions = await page.locator('main .photos figcaption').allInnerTexts();
      expect(captions.join('\n')).toContain(t['admin.detail.noMailPhoto']);
      expect(captions.join('\n')).toContain(t['admin.detail.noDirectoryPhoto']);
      expect(captions.join('\n')).not.toContain(t['admin.detail.directoryNotUsed']);
      expect(await page.locator('main').innerText()).not.toMatch(new RegExp(`\\b${none}\\b`));
      if (lang === 'et') expect(await englishOn(page)).toEqual([]);

      // Lee has no mailbox: the placeholder in the list's mail column and on his page as well.
      await page.goto(`${server.baseUrl}/admin/users/${encodeURIComponent(lee.upn)}`);
      expect(await page.locator('main').innerText()).not.toMatch(new RegExp(`\\b${none}\\b`));
      expect(await placeholdersLoaded(page.locator('main img[data-placeholder]'))).not.toContain(false);

      // In the portal, Nestor's missing photo is his initials as an image, in the suite bar and on Home.
      const nestorPage = await newPage(locale, 360);
      await signIn(nestorPage, server.baseUrl, nestor.upn);
      const avatars = nestorPage.locator('[data-initials][role=img]');
      expect(await avatars.count()).toBeGreaterThanOrEqual(2);
      expect(await nestorPage.locator('main').innerText()).not.toMatch(new RegExp(`\\b${none}\\b`));
    });
  }

  it("lists the console's first people out of step one to a row, each name a link (the sites' People grid is not theirs)", async () => {
    for (const name of ['Wanda Waitinglongername', 'Wim Waiting']) {
      await giveMailPhoto(
        services,
        await makeUser(services, { displayName: name }),
        await solidJpeg([200, 90, 40], 120),
      );
    }
    const page = await newPage('en', 1366);
    await signIn(page, server.baseUrl, admin.upn);
    await page.goto(`${server.baseUrl}/admin`);
    const list = page.locator('#first-out-of-step');
    const width = await list.evaluate((ul) => ul.getBoundingClientRect().width);
    const rows = await list.locator('li').evaluateAll((items) =>
      items.map((li) => {
        const box = li.getBoundingClientRect();
        return {
          top: box.top,
          bottom: box.bottom,
          width: box.width,
          links: li.querySelectorAll('a[href^="/admin/users/"]').length,
        };
      }),
    );
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const [i, row] of rows.entries()) {
      expect(row.width).toBeCloseTo(width, 0);
      expect(row.links).toBe(1);
      if (i > 0) expect(row.top).toBeGreaterThanOrEqual(rows[i - 1]!.bottom - 1);
    }
    const link = list.locator('a').first();
    expect(await link.evaluate((a) => getComputedStyle(a).textDecorationLine)).toBe('underline');
  });
});
