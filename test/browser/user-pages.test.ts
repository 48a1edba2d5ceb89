import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext } from 'playwright-core';
import { setDirectoryPhoto } from '../../src/directory/photo.js';
import { getMailPhoto } from '../../src/mail/photo-store.js';
import type { Services } from '../../src/services.js';
import { en } from '../../src/web/messages/en.js';
import { et } from '../../src/web/messages/et.js';
import { chromiumMissing, useBrowser, useServer } from '../support/browser.js';
import { closeTo, giveMailPhoto, giveSitePicture, makeUser, solidJpeg } from '../support/factories.js';
import { useTestServices } from '../support/services.js';
import { englishOn, loadsNewPage, privateWindow, shownColour, signIn, switchLanguage, PASSWORD } from './helpers.js';

// What a person meets around the main story, in Chromium, in English and Estonian: an unknown
// address, sites that lag the mail photo, an ended session and deep links, the language switch,
// the special cases (directory photo only, no mailbox) and the upload control.

const RED: [number, number, number] = [200, 30, 40];
const GREEN: [number, number, number] = [30, 160, 70];
const LOCALES = [
  ['en', 'en-GB', en],
  ['et', 'et-EE', et],
] as const;

describe.skipIf(chromiumMissing())('the user pages in Chromium', { timeout: 120_000 }, () => {
  const context = useTestServices('sqlite');
  let services: Services;
  beforeAll(() => ({ services } = context));
  const server = useServer(() => context.services);
  const chromium = useBrowser();
  const open: BrowserContext[] = [];
  const newPage = async (locale: string) => {
    const window = await privateWindow(chromium.browser, locale);
    open.push(window);
    return window.newPage();
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  for (const [lang, locale, t] of LOCALES) {
    it(`shows an unknown address as a page with the suite bar and the way back (${lang})`, async () => {
      const user = await makeUser(services, { displayName: 'Pille Puu' });
      const page = await newPage(locale);
      await signIn(page, server.baseUrl, user.upn);
      for (const path of ['/nope', '/admin/nope', '/_layouts/15/nothing.aspx']) {
        const response = await page.goto(`${server.baseUrl}${path}`);
        expect(response?.status()).toBe(404);
        expect(await page.locator('h1').textContent()).toBe(t['error.notFound.title']);
        expect(await page.locator('.suite-bar .me').count()).toBe(1);
        if (lang === 'et') expect(await englishOn(page)).toEqual([]);
      }
      await loadsNewPage(page, () => page.click(`main a[href="/"]`));
      expect(page.url()).toBe(`${server.baseUrl}/`);
    });

    it(`says the sites lag the mail photo and updates them with "Update now" (${lang})`, async () => {
      const user = await makeUser(services, { displayName: 'Tiina Tamm' });
      await giveMailPhoto(services, user, await solidJpeg(RED));
      await services.sync.sync(user, 'admin');
      await giveMailPhoto(services, user, await solidJpeg(GREEN));
      const page = await newPage(locale);
      await signIn(page, server.baseUrl, user.upn);
      expect(await page.locator('[data-sites-lag] p').textContent()).toBe(t['lag.previous']);
      await page.goto(`${server.baseUrl}/_layouts/15/sharepoint.aspx`);
      const mine = page.locator(`a[data-upn="${user.upn}"] img`);
      expect(closeTo(await shownColour(mine), RED, 12)).toBe(true);
      expect(await page.locator('[data-sites-lag] p').textContent()).toBe(t['lag.previous']);
      await loadsNewPage(page, () => page.click('[data-sites-lag] button'));
      expect(await page.locator('[data-sites-lag]').count()).toBe(0);
      expect(closeTo(await shownColour(mine), GREEN, 12)).toBe(true);
      await page.goto(`${server.baseUrl}/`);
      expect(await page.locator('[data-sites-lag]').count()).toBe(0);
      if (lang === 'et') expect(await englishOn(page)).toEqual([]);
    });

    it(`brings an ended session and a deep link back after sign-in, keeping the query on switching language (${lang})`, async () => {
      const admin = await makeUser(services, { displayName: 'Ants Admin', isAdmin: true });
      const page = await newPage(locale);
      // A deep link before signing in survives sign-in.
      await page.goto(`${server.baseUrl}/admin/users?state=failing`);
      expect(new URL(page.url()).pathname).toBe('/signin');
      await page.fill('#upn', admin.upn);
      await page.fill('#password', PASSWORD);
      await loadsNewPage(page, () => page.click('form[action="/signin"] button[type=submit]'));
      expect(page.url()).toBe(`${server.baseUrl}/admin/users?state=failing`);

      // The session ends while a page with the tiles is open; the tile leads to sign-in, then back.
      await page.goto(`${server.baseUrl}/`);
      await services.database.db.deleteFrom('directory_sessions').where('user_id', '=', admin.id).execute();
      await loadsNewPage(page, () => page.click('form[action="/launch/sharepoint"] button'));
      expect(await page.locator('.notice-info').textContent()).toBe(t['signin.ended']);
      await page.fill('#upn', admin.upn);
      await page.fill('#password', PASSWORD);
      await loadsNewPage(page, () => page.click('form[action="/signin"] button[type=submit]'));
      expect(page.url()).toBe(`${server.baseUrl}/`);

      // The language switch keeps the whole address.
      const other = await makeUser(services, { displayName: 'Lii Lepp' });
      const view = `/_layouts/15/person.aspx?accountname=${encodeURIComponent(other.upn)}`;
      await page.goto(`${server.baseUrl}${view}`);
      await switchLanguage(page);
      expect(page.url()).toBe(`${server.baseUrl}${view}`);
      expect(await page.locator('h1').textContent()).toBe('Lii Lepp');
      expect(await page.getAttribute('html', 'lang')).toBe(lang === 'en' ? 'et' : 'en');
    });

    it(`explains a directory photo only, and no mailbox (${lang})`, async () => {
      const megan = await makeUser(services, { displayName: 'Megan Bowen' });
      await setDirectoryPhoto(services.database.db, megan.id, await solidJpeg(RED, 96));
      const page = await newPage(locale);
      await signIn(page, server.baseUrl, megan.upn);
      expect(await page.locator('[data-directory-only]').textContent()).toBe(t['home.directoryOnly']);
      expect(await page.locator('.profile a.button').textContent()).toBe(t['home.addPhoto']);
      await page.goto(`${server.baseUrl}/help/profile-picture-sync`);
      expect(await page.locator('main').textContent()).toContain(t['help.steps.why']);
      if (lang === 'et') expect(await englishOn(page)).toEqual([]);

      const lee = await makeUser(services, { displayName: 'Lee Gu', hasMailbox: false });
      await giveSitePicture(services, lee, await solidJpeg(GREEN));
      const leePage = await newPage(locale);
      await signIn(leePage, server.baseUrl, lee.upn);
      // His SharePoint picture on Home, not initials; Outlook's tile says there is no mailbox.
      expect(closeTo(await shownColour(leePage.locator('.profile img.avatar')), GREEN, 12)).toBe(true);
      expect(await leePage.locator('.tile-outlook .tile-hint').textContent()).toBe(t['apps.outlook.noMailbox']);
      // No mail photo for the sites to take: the tiles do not promise to bring one across.
      expect(await leePage.locator('main').textContent()).not.toContain(t['apps.syncNote']);
      if (lang === 'et') expect(await englishOn(leePage)).toEqual([]);
    });

    it(`keeps Save until a picture is chosen, refuses other files at once and asks before removing (${lang})`, async () => {
      const user = await makeUser(services, { displayName: 'Kati Karu' });
      await giveMailPhoto(services, user, await solidJpeg(RED));
      const page = await newPage(locale);
      await signIn(page, server.baseUrl, user.upn);
      await page.goto(`${server.baseUrl}/profile-photo`);
      expect(await page.locator('h1').textContent()).toBe(t['photo.titleChange']);
      const save = page.locator('form.upload button[type=submit]');
      expect(await save.isDisabled()).toBe(true);
      const alert = page.locator('form.upload [role=alert]');
      await page.setInputFiles('#photo', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
      expect(await alert.textContent()).toBe(t['photo.error.notPicture']);
      expect(await save.isDisabled()).toBe(true);
      const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
      await page.setInputFiles('#photo', { name: 'me.svg', mimeType: 'image/svg+xml', buffer: svg });
      expect(await alert.textContent()).toBe(t['photo.error.svg']);
      expect(await save.isDisabled()).toBe(true);
      // A phone's picture of a kind the server does not take: a picture, but not one it can use.
      await page.setInputFiles('#photo', {
        name: 'IMG_0001.HEIC',
        mimeType: 'image/heic',
        buffer: Buffer.from('ftyp'),
      });
      expect(await alert.textContent()).toBe(t['photo.error.unsupported_type']);
      expect(await save.isDisabled()).toBe(true);
      // A file named like a picture that cannot be read as one: said as the server would say it
      // (damaged), with no broken preview.
      await page.setInputFiles('#photo', { name: 'fake.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('nope') });
      await page.waitForSelector('form.upload [role=alert]:not([hidden])');
      expect(await alert.textContent()).toBe(t['photo.error.corrupt']);
      expect(await page.locator('[data-preview]').isHidden()).toBe(true);
      await page.setInputFiles('#photo', {
        name: 'me.jpg',
        mimeType: 'image/jpeg',
        buffer: await solidJpeg(GREEN, 200),
      });
      await page.waitForSelector('[data-preview]:not([hidden])');
      expect(await save.isEnabled()).toBe(true);
      if (lang === 'et') expect(await englishOn(page)).toEqual([]);

      // Remove asks first; "keep" keeps it.
      await loadsNewPage(page, () => page.click('[data-remove]'));
      expect(await page.locator('.remove-confirm p').textContent()).toBe(t['photo.removeConfirm']);
      await loadsNewPage(page, () => page.click(`.remove-confirm a[href="/profile-photo"]`));
      expect(await getMailPhoto(services.database.db, user.id)).toBeDefined();
      await loadsNewPage(page, () => page.click('[data-remove]'));
      await loadsNewPage(page, () => page.click('.remove-confirm button'));
      expect(await getMailPhoto(services.database.db, user.id)).toBeUndefined();
      expect(await page.locator('h1').textContent()).toBe(t['photo.title']);
    });
  }
});
