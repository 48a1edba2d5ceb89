import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { askToSync } from '../../src/admin/actions.js';
import type { App } from '../../src/app.js';
import { buildApp } from '../../src/app.js';
import { setUserEnabled } from '../../src/directory/revocation.js';
import type { DirectoryUser } from '../../src/directory/users.js';
import { AppError } from '../../src/errors.js';
import { getMailPhoto } from '../../src/mail/photo-store.js';
import type { Services } from '../../src/services.js';
import { chromiumMissing, useBrowser } from '../support/browser.js';
import { giveMailPhoto, makeUser, solidJpeg } from '../support/factories.js';
import { useTestServices } from '../support/services.js';
import { axeViolations as violations, loadsNewPage, serveAxe, signIn } from './helpers.js';

// axe-core over every page a person can meet, signed out, as a user, as a user without a mailbox
// and as an administrator, in both languages, on a laptop (1366 px) and a phone (360 px): no
// violations anywhere. A new page is one more row of PAGES.

/** Who looks at the page: nobody signed in, Jane (a user whose sites lag her new photo), Lee (no mailbox), the admin. */
type Who = 'nobody' | 'jane' | 'lee' | 'admin';

interface People {
  jane: DirectoryUser;
  lee: DirectoryUser;
  nestor: DirectoryUser;
  nora: DirectoryUser;
  dora: DirectoryUser;
  admin: DirectoryUser;
}

interface AxePage {
  /** What the page is, as a failure names it. */
  name: string;
  who: Who;
  /** The address to open, or the steps that bring the page up (a form sent, a file chosen). */
  open: string | ((page: Page, base: string) => Promise<unknown>);
}

/** The people the pages are about, made before the first page opens. */
const people = {} as People;

const at = (upn: string) => encodeURIComponent(upn);

/** Sends a form from the page as the browser would, and waits for the page it answers with. */
async function submit(page: Page, selector: string): Promise<void> {
  await loadsNewPage(page, () => page.click(selector));
}

const p = people;

const PAGES: AxePage[] = [
  // Signed out: sign-in and its states, and the error pages a browser meets without a session.
  { name: 'sign-in', who: 'nobody', open: '/signin' },
  { name: 'sign-in after the session ended', who: 'nobody', open: '/signin?ended=1&next=%2Fprofile-photo' },
  {
    name: 'sign-in with a wrong password',
    who: 'nobody',
    open: async (page, base) => {
      await page.goto(`${base}/signin`);
      await page.fill('#upn', 'nobody.here@contoso.com');
      await page.fill('#password', 'not the password');
      await submit(page, 'form[action="/signin"] button[type=submit]');
    },
  },
  { name: 'not found, signed out', who: 'nobody', open: '/nope' },
  { name: 'method not allowed', who: 'nobody', open: '/signout' },
  {
    name: 'sign-in for an unknown app',
    who: 'nobody',
    open: '/common/oauth2/v2.0/authorize?response_type=code&client_id=00000000-0000-4000-8000-000000000000&redirect_uri=https%3A%2F%2Fapp.example%2F',
  },
  { name: 'too many requests', who: 'nobody', open: '/test/limited' },
  { name: 'busy', who: 'nobody', open: '/test/busy' },
  { name: 'server error', who: 'nobody', open: '/test/bug' },

  // A user whose sites still show the previous picture.
  { name: 'home', who: 'jane', open: '/' },
  { name: 'profile photo', who: 'jane', open: '/profile-photo' },
  { name: 'profile photo, saved', who: 'jane', open: '/profile-photo?done=saved' },
  { name: 'profile photo, remove confirmation', who: 'jane', open: '/profile-photo?remove=confirm' },
  {
    name: 'profile photo, a new photo previewed',
    who: 'jane',
    open: async (page, base) => {
      await page.goto(`${base}/profile-photo`);
      const jpeg = await solidJpeg([240, 200, 20], 200);
      await page.setInputFiles('#photo', { name: 'me.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    },
  },
  {
    name: 'profile photo, a file that is not a picture',
    who: 'jane',
    open: async (page, base) => {
      await page.goto(`${base}/profile-photo`);
      await page.setInputFiles('#photo', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hi') });
    },
  },
  {
    name: 'home with the app launcher open',
    who: 'jane',
    open: async (page, base) => {
      await page.goto(`${base}/`);
      await page.click('.suite-bar .launcher > button');
    },
  },
  {
    name: 'home with the account menu open',
    who: 'jane',
    open: async (page, base) => {
      await page.goto(`${base}/`);
      await page.click('.suite-bar .account > button');
    },
  },
  { name: 'help', who: 'jane', open: '/help/profile-picture-sync' },
  { name: 'Outlook', who: 'jane', open: '/outlook' },
  { name: 'SharePoint', who: 'jane', open: '/_layouts/15/sharepoint.aspx' },
  { name: 'SharePoint after a sync', who: 'jane', open: '/_layouts/15/sharepoint.aspx?sync=synced' },
  { name: 'OneDrive', who: 'jane', open: '/_layouts/15/onedrive.aspx' },
  { name: 'OneDrive after a failed sync', who: 'jane', open: '/_layouts/15/onedrive.aspx?sync=failed' },
  { name: 'own SharePoint profile', who: 'jane', open: '/_layouts/15/person.aspx' },
  {
    name: 'a colleague’s profile',
    who: 'jane',
    open: (page, base) => page.goto(`${base}/_layouts/15/person.aspx?accountname=${at(p.nestor.upn)}`),
  },
  { name: 'a profile nobody has', who: 'jane', open: '/_layouts/15/person.aspx?accountname=nobody%40contoso.com' },
  { name: 'not found, signed in', who: 'jane', open: '/nope' },
  { name: 'not found under the sites', who: 'jane', open: '/_layouts/15/nothing.aspx' },
  { name: 'admin console, not an admin', who: 'jane', open: '/admin' },
  {
    name: 'a form too large',
    who: 'jane',
    open: async (page, base) => {
      await page.goto(`${base}/help/profile-picture-sync`);
      await loadsNewPage(page, () =>
        page.evaluate(() => {
          const form = document.createElement('form');
          form.method = 'post';
          form.action = '/language';
          for (const [name, value] of [
            ['lang', 'en'],
            ['back', 'x'.repeat(1024 * 1024 + 10)],
          ] as const) {
            const input = document.createElement('input');
            input.type = 'hidden';
            input.name = name;
            input.value = value;
            form.append(input);
          }
          document.body.append(form);
          form.submit();
        }),
      );
    },
  },

  // A user without a mailbox: the picture lives in SharePoint.
  { name: 'home without a mailbox', who: 'lee', open: '/' },
  { name: 'Outlook without a mailbox', who: 'lee', open: '/outlook' },
  { name: 'upload picture in SharePoint', who: 'lee', open: '/_layouts/15/editprofile.aspx' },
  { name: 'own profile without a mailbox', who: 'lee', open: '/_layouts/15/person.aspx' },

  // The admin console, every route under /admin, with its notices and refusals.
  { name: 'admin overview', who: 'admin', open: '/admin' },
  {
    name: 'admin overview with the account menu open',
    who: 'admin',
    open: async (page, base) => {
      await page.goto(`${base}/admin`);
      await page.click('.suite-bar .account > button');
    },
  },
  { name: 'admin users', who: 'admin', open: '/admin/users' },
  { name: 'admin users, filtered', who: 'admin', open: '/admin/users?state=changed&search=Jane&sort=name' },
  { name: 'admin users, nobody matches', who: 'admin', open: '/admin/users?state=failing&search=zzz' },
  {
    name: 'admin users, after asking',
    who: 'admin',
    open: async (page, base) => {
      await page.goto(`${base}/admin/users?sort=name`);
      for (const user of [p.jane, p.nestor, p.lee]) {
        await page.locator(`tr[data-upn="${user.upn}"] input[type=checkbox]`).check();
      }
      await submit(page, '#prompt-selected');
    },
  },
  {
    name: 'admin users, nothing selected',
    who: 'admin',
    open: async (page, base) => {
      await page.goto(`${base}/admin/users?sort=name`);
      // Sent as it is, whatever the page's script does with the button while nothing is chosen.
      await loadsNewPage(page, () =>
        page.evaluate(() => document.querySelector<HTMLFormElement>('form[action="/admin/prompts"]')?.submit()),
      );
    },
  },
  {
    name: 'admin user with history and e-mail',
    who: 'admin',
    open: (page, base) => page.goto(`${base}/admin/users/${at(p.jane.upn)}`),
  },
  {
    name: 'admin user whose sync fails',
    who: 'admin',
    open: (page, base) => page.goto(`${base}/admin/users/${at(p.nora.upn)}`),
  },
  {
    name: 'admin user without a photo',
    who: 'admin',
    open: (page, base) => page.goto(`${base}/admin/users/${at(p.nestor.upn)}`),
  },
  {
    name: 'admin user without a mailbox',
    who: 'admin',
    open: (page, base) => page.goto(`${base}/admin/users/${at(p.lee.upn)}`),
  },
  {
    name: 'admin user whose account is disabled',
    who: 'admin',
    open: (page, base) => page.goto(`${base}/admin/users/${at(p.dora.upn)}`),
  },
  { name: 'admin user nobody has', who: 'admin', open: '/admin/users/nobody%40contoso.com' },
  { name: 'admin settings', who: 'admin', open: '/admin/settings' },
  {
    name: 'admin settings, an invalid value',
    who: 'admin',
    open: async (page, base) => {
      await page.goto(`${base}/admin/settings`);
      await page.fill('[name=mailFrom]', 'not an address');
      await submit(page, 'form[action="/admin/settings"] button[type=submit]');
    },
  },
  {
    name: 'admin settings, saved',
    who: 'admin',
    open: async (page, base) => {
      await page.goto(`${base}/admin/settings`);
      await page.fill('[name=mailFrom]', 'photos@contoso.com');
      await submit(page, 'form[action="/admin/settings"] button[type=submit]');
    },
  },
  { name: 'admin audit log', who: 'admin', open: '/admin/audit' },
  { name: 'admin, not found', who: 'admin', open: '/admin/nope' },
];

/** The real app on a real port, with three routes that fail as the server side can (429, 503, 500). */
async function serve(services: Services): Promise<{ app: App; base: string }> {
  const app = await buildApp(services);
  const thrown: Record<string, () => Error> = {
    '/test/limited': () => new AppError('rate_limited', 'Too many.'),
    '/test/busy': () => new AppError('unavailable', 'Busy.', { retryAfterSeconds: 3 }),
    '/test/bug': () => new Error('secret internals'),
  };
  for (const [url, error] of Object.entries(thrown)) {
    app.get(url, { config: { envelope: 'page', auth: false } }, () => {
      throw error();
    });
  }
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('The server has no TCP address.');
  return { app, base: `http://127.0.0.1:${address.port}` };
}

export interface Screen {
  locale: string;
  lang: 'en' | 'et';
  width: number;
}

/**
 * Every page of PAGES on each of the screens, in one test file. Each language is a file of its
 * own (accessibility-en.test.ts, accessibility-et.test.ts), so the two run side by side.
 */
export function describeAccessibility(screens: Screen[]): void {
  // A shared machine can be slow: generous limits, not timing assertions.
  describe.skipIf(chromiumMissing())('accessibility of every page', { timeout: 300_000 }, () => {
    // E-mail on, to a port where nothing listens: the prompts' e-mail shows as being retried.
    const context = useTestServices('sqlite', { SMTP_URL: 'smtp://127.0.0.1:9' });
    const chromium = useBrowser();
    let services: Services;
    let server: { app: App; base: string };

    beforeAll(async () => {
      ({ services } = context);
      server = await serve(services);
      const admin = await makeUser(services, { displayName: 'Ada Admin', isAdmin: true });
      const jane = await makeUser(services, { displayName: 'Jane Doe' });
      const lee = await makeUser(services, { displayName: 'Lee Nomailbox', hasMailbox: false });
      const nestor = await makeUser(services, { displayName: 'Nestor Nophoto' });
      const nora = await makeUser(services, { displayName: 'Nora Failing' });
      // Dora's account is disabled: the users table and her page say so beside her state.
      const dora = await makeUser(services, { displayName: 'Dora Disabled' });
      await giveMailPhoto(services, dora, await solidJpeg([60, 60, 200], 64));
      await setUserEnabled(services.database.db, dora, false);
      await services.settings.update({ mailFrom: 'photos@contoso.com' }, admin);
      await giveMailPhoto(services, jane, await solidJpeg([200, 30, 40]));
      await services.sync.sync(jane, 'sharepoint_tile');
      await services.sync.sync(jane, 'photo_request');
      // A newer photo, so the pages show the lagging-sites notice, and a reminder with its e-mail.
      await giveMailPhoto(services, jane, await solidJpeg([30, 160, 70]));
      await askToSync(services, admin, { upns: [jane.upn] });
      // Nora's mail photo lost its file: her sync fails, with the error to explain.
      await giveMailPhoto(services, nora, await solidJpeg([90, 90, 0], 64));
      const lost = await getMailPhoto(services.database.db, nora.id);
      await services.blobs.delete([lost!.blobKey]);
      await services.sync.sync(nora, 'onedrive_tile');
      Object.assign(people, { admin, jane, lee, nestor, nora, dora });
    }, 300_000);
    afterAll(async () => {
      await server?.app.close();
    });

    describe.each(screens)('in $locale at $width px', ({ locale, lang, width }) => {
      const windows = new Map<Who, BrowserContext>();
      /** One tab per person, each page opened in it in turn: its renderer and axe, compiled once, stay warm. */
      const tabs = new Map<Who, Page>();
      let axe: Awaited<ReturnType<typeof serveAxe>>;
      beforeAll(async () => {
        axe = await serveAxe();
        for (const who of ['nobody', 'jane', 'lee', 'admin'] as const) {
          // The pages' CSP allows no inline script; the test's injected axe is let through, nothing else changes.
          const window = await chromium.browser.newContext({
            locale,
            viewport: { width, height: 800 },
            bypassCSP: true,
          });
          windows.set(who, window);
          const tab = await window.newPage();
          tab.setDefaultTimeout(120_000);
          tabs.set(who, tab);
          if (who !== 'nobody') await signIn(tab, server.base, people[who].upn);
        }
      }, 300_000);
      afterAll(async () => {
        for (const window of windows.values()) await window.close();
        await axe?.close();
      });

      it.each(PAGES)('$name ($who) has no axe violations', async ({ who, open }) => {
        const page = tabs.get(who)!;
        if (typeof open === 'string') await page.goto(`${server.base}${open}`);
        else await open(page, server.base);
        expect(await page.evaluate(() => document.documentElement.lang)).toBe(lang);
        expect(await violations(page, axe.url)).toEqual([]);
      });
    });
  });
}
