import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import type { DirectoryUser } from '../../src/directory/users.js';
import { endUserSessions } from '../../src/directory/credentials.js';
import type { Services } from '../../src/services.js';
import { en } from '../../src/web/messages/en.js';
import { et } from '../../src/web/messages/et.js';
import { chromiumMissing, useBrowser, useServer } from '../support/browser.js';
import { giveMailPhoto, makeUser, solidJpeg } from '../support/factories.js';
import { useTestServices } from '../support/services.js';
import { loadsNewPage, PASSWORD, signIn } from './helpers.js';

// The forms as Chromium renders them, in English and Estonian, on a laptop and a phone: every
// control a 44 px target with 16 px text and a visible label; a wrong setting marked beside its
// field with what was typed; what a form says after it redirects shown once, never from the address.

const LOCALES = [
  ['en', 'en-GB', en],
  ['et', 'et-EE', et],
] as const;
const WIDTHS = [1366, 360] as const;

interface Measured {
  what: string;
  width: number;
  height: number;
  fontSize: number;
}

/**
 * Every visible control in the page's main part, measured as rendered: its own box, or for a
 * checkbox or radio the label around it (the target a finger hits); the font size of its text.
 */
function measureControls(page: Page): Promise<Measured[]> {
  return page.evaluate(() => {
    const found: Measured[] = [];
    const selector = 'main :is(input:not([type=hidden]), select, textarea, button, a.button, label.button)';
    for (const control of Array.from(document.querySelectorAll<HTMLElement>(selector))) {
      // The file input is drawn as its label (a button); the label is measured instead.
      if (control.matches('input[type=file]')) continue;
      if (control.closest('[hidden]') || control.getClientRects().length === 0) continue;
      const box = control.matches('input[type=checkbox], input[type=radio]')
        ? (control.closest('label') ?? control)
        : control;
      const rect = box.getBoundingClientRect();
      const name =
        control.getAttribute('id') ??
        control.getAttribute('name') ??
        control.getAttribute('aria-label') ??
        control.textContent?.trim().slice(0, 30) ??
        '';
      found.push({
        what: `${control.tagName.toLowerCase()}${control.getAttribute('type') ? `[${control.getAttribute('type')}]` : ''} ${name}`,
        width: rect.width,
        height: rect.height,
        fontSize: parseFloat(getComputedStyle(box).fontSize),
      });
    }
    return found;
  });
}

describe.skipIf(chromiumMissing())('the forms in Chromium', { timeout: 240_000 }, () => {
  const context = useTestServices('sqlite');
  let services: Services;
  let admin: DirectoryUser;
  let jane: DirectoryUser;
  beforeAll(async () => {
    services = context.services;
    admin = await makeUser(services, { displayName: 'Ada Admin', isAdmin: true });
    jane = await makeUser(services, { displayName: 'Jane Doe' });
    // A photo the sites have taken, then a newer one: the pages show the "Update now" form too.
    for (const user of [admin, jane]) {
      await giveMailPhoto(services, user, await solidJpeg([200, 30, 40], 120));
      await services.sync.sync(user, 'admin');
      await giveMailPhoto(services, user, await solidJpeg([30, 160, 70], 120));
    }
  });
  const server = useServer(() => context.services);
  const chromium = useBrowser();
  const open: BrowserContext[] = [];
  const newPage = async (locale: string, width = 1366) => {
    const window = await chromium.browser.newContext({ locale, viewport: { width, height: 900 } });
    open.push(window);
    return window.newPage();
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  it('a form sent after the session ended signs in again and comes back to the page it was sent from', async () => {
    const user = await makeUser(services, { displayName: 'Megan Bowen' });
    const page = await newPage('en-GB');
    await signIn(page, server.baseUrl, user.upn);
    await page.goto(`${server.baseUrl}/profile-photo`);
    await page.setInputFiles('form[action="/profile-photo"] input[type=file]', {
      name: 'me.jpg',
      mimeType: 'image/jpeg',
      buffer: await solidJpeg([40, 90, 160], 120),
    });
    await endUserSessions(services.database.db, user.id);
    await loadsNewPage(page, () => page.click('form[action="/profile-photo"] button[type=submit]'));
    expect(new URL(page.url()).pathname).toBe('/signin');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/profile-photo');
    await page.fill('#upn', user.upn);
    await page.fill('#password', PASSWORD);
    await loadsNewPage(page, () => page.click('form[action="/signin"] button[type=submit]'));
    expect(page.url()).toBe(`${server.baseUrl}/profile-photo`);
  });

  it('renders every control on the main forms as a 44 px target with 16 px text, at 1366 and 360 px', async () => {
    const pages = [
      '/',
      '/profile-photo',
      '/profile-photo?remove=confirm',
      '/admin',
      '/admin/users',
      `/admin/users/${encodeURIComponent(jane.upn)}`,
      '/admin/settings',
    ];
    const small: string[] = [];
    const seen = new Set<string>();
    for (const width of WIDTHS) {
      const page = await newPage('en-GB', width);
      await page.goto(`${server.baseUrl}/signin`);
      const controls: Array<[string, Measured[]]> = [[`${width}px /signin`, await measureControls(page)]];
      await signIn(page, server.baseUrl, admin.upn);
      for (const path of pages) {
        await page.goto(`${server.baseUrl}${path}`);
        controls.push([`${width}px ${path}`, await measureControls(page)]);
      }
      for (const [where, list] of controls) {
        for (const c of list) {
          seen.add(c.what.split(' ')[0]!);
          if (c.width < 44 || c.height < 44 || c.fontSize < 16) {
            small.push(`${where} ${c.what}: ${c.width.toFixed(1)}×${c.height.toFixed(1)} px, text ${c.fontSize} px`);
          }
        }
      }
      // Nothing needs sideways scrolling on the phone.
      if (width === 360) {
        for (const path of ['/admin/settings', '/profile-photo']) {
          await page.goto(`${server.baseUrl}${path}`);
          expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), path).toBe(true);
        }
      }
    }
    expect(small).toEqual([]);
    // The kinds of control the issue names were all among those measured.
    expect([...seen]).toEqual(
      expect.arrayContaining([
        'input[email]',
        'input[password]',
        'input[search]',
        'input[number]',
        'input[checkbox]',
        'select',
        'button[submit]',
        'a',
        'label',
      ]),
    );
  });

  for (const [lang, locale, t] of LOCALES) {
    it(`labels S, M and L visibly, and marks a wrong setting beside its field, keeping what was typed (${lang})`, async () => {
      const page = await newPage(locale);
      await signIn(page, server.baseUrl, admin.upn);
      await page.goto(`${server.baseUrl}/admin/settings`);
      for (const [id, key] of [
        ['sizeS', 'admin.settings.sizeS'],
        ['sizeM', 'admin.settings.sizeM'],
        ['sizeL', 'admin.settings.sizeL'],
      ] as const) {
        const label = page.locator(`label[for=${id}]`);
        expect(await label.isVisible()).toBe(true);
        expect(await label.textContent()).toBe(t[key]);
      }
      const before = await services.settings.refresh();

      await page.fill('#sizeS', '10');
      await page.fill('#recheckSeconds', '');
      await page.fill('#mailFrom', 'not an address');
      const response = page.waitForResponse(
        (r) => r.url().endsWith('/admin/settings') && r.request().method() === 'POST',
      );
      await loadsNewPage(page, () => page.click('main form button[type=submit]'));
      expect((await response).status()).toBe(400);
      expect(new URL(page.url()).pathname).toBe('/admin/settings');

      expect(await page.locator('[role=alert]').textContent()).toBe(t['admin.settings.notSavedMany']);
      const described = async (id: string) => {
        const field = page.locator(`#${id}`);
        const ids = ((await field.getAttribute('aria-describedby')) ?? '').split(' ').filter(Boolean);
        const texts = await Promise.all(ids.map((d) => page.locator(`#${d}`).textContent()));
        return { invalid: await field.getAttribute('aria-invalid'), value: await field.inputValue(), texts };
      };
      expect(await described('sizeS')).toEqual({
        invalid: 'true',
        value: '10',
        texts: [t['admin.settings.error.sizes']],
      });
      expect((await described('sizeM')).invalid).toBeNull();
      expect(await described('recheckSeconds')).toEqual({
        invalid: 'true',
        value: '',
        texts: [t['admin.settings.error.seconds']],
      });
      expect((await described('errorBackoffSeconds')).invalid).toBeNull();
      const mailFrom = await described('mailFrom');
      expect(mailFrom).toMatchObject({ invalid: 'true', value: 'not an address' });
      expect(mailFrom.texts[0]).toBe(t['admin.settings.error.mailFrom']);
      // The error sits right under its field, not somewhere else on the page.
      const field = await page.locator('#mailFrom').boundingBox();
      const error = await page.locator('#mailFrom-error').boundingBox();
      expect(error!.y - (field!.y + field!.height)).toBeLessThan(24);
      expect(error!.y).toBeGreaterThanOrEqual(field!.y + field!.height);
      // Nothing was saved.
      expect(await services.settings.refresh()).toEqual(before);

      // Corrected, it saves, says so once, and a refresh says nothing.
      await page.fill('#sizeS', String(before.renditionSizes.S));
      await page.fill('#recheckSeconds', String(before.recheckSeconds));
      await page.fill('#mailFrom', 'photos@contoso.com');
      await loadsNewPage(page, () => page.click('main form button[type=submit]'));
      expect(page.url()).toBe(`${server.baseUrl}/admin/settings`);
      expect(await page.locator('[role=status]').textContent()).toBe(t['admin.notice.saved']);
      expect(await page.locator('[aria-invalid]').count()).toBe(0);
      await loadsNewPage(page, () => page.reload());
      expect(await page.locator('main .notice').count()).toBe(0);
      expect((await services.settings.refresh()).mailFrom).toBe('photos@contoso.com');
      await services.settings.update({ mailFrom: before.mailFrom }, admin);
    });

    it(`shows what a form did once, and nothing for a crafted address (${lang})`, async () => {
      const user = await makeUser(services, { displayName: `Mari Maasikas ${lang}` });
      await giveMailPhoto(services, user, await solidJpeg([200, 30, 40], 96));
      const page = await newPage(locale);
      await signIn(page, server.baseUrl, user.upn);
      // The tile: SharePoint says what the sync did; a refresh says nothing.
      await loadsNewPage(page, () => page.click('form[action="/launch/sharepoint"] button'));
      expect(page.url()).toBe(`${server.baseUrl}/_layouts/15/sharepoint.aspx`);
      expect(await page.locator('[data-sync-result]').textContent()).toBe(
        t['sync.synced'].replace('{app}', 'SharePoint'),
      );
      await loadsNewPage(page, () => page.reload());
      expect(await page.locator('[data-sync-result]').count()).toBe(0);
      // Old and crafted addresses show the page without a message.
      for (const path of ['/_layouts/15/sharepoint.aspx?sync=failed', '/_layouts/15/onedrive.aspx?sync=synced']) {
        await page.goto(`${server.baseUrl}${path}`);
        expect(await page.locator('[data-sync-result]').count(), path).toBe(0);
      }

      const console = await newPage(locale);
      await signIn(console, server.baseUrl, admin.upn);
      for (const path of ['/admin?notice=prompted&n=999', '/admin/settings?notice=saved']) {
        await console.goto(`${server.baseUrl}${path}`);
        expect(await console.locator('main .notice, main .alert').count(), path).toBe(0);
      }
      const kalle = await makeUser(services, { displayName: `Kalle Kask ${lang}` });
      await giveMailPhoto(services, kalle, await solidJpeg([30, 30, 200], 96));
      await console.goto(`${server.baseUrl}/admin/users/${encodeURIComponent(kalle.upn)}`);
      await loadsNewPage(console, () => console.click('form[action="/admin/prompts"] button'));
      expect(await console.locator('[role=status] p').first().textContent()).toBe(
        t['admin.notice.prompted'].replace('{n}', '1'),
      );
      await loadsNewPage(console, () => console.reload());
      expect(await console.locator('main .notice').count()).toBe(0);
    });
  }
});
