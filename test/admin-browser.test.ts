import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryUser } from '../src/directory/users.js';
import type { App } from '../src/app.js';
import type { Services } from '../src/services.js';
import { listAttempts } from '../src/sync/history.js';
import { loadsNewPage } from './browser/helpers.js';
import { chromiumMissing, launchChromium, listen } from './support/browser.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import { createTestStore, openTestServices, type TestStore } from './support/services.js';

// The admin's and the user's path through real Chromium on a real port: filter to "changed since
// last sync", ask the user to sync, the user sees the banner and syncs with its button.

// A shared machine can be slow; a generous limit, not a timing assertion.
describe.skipIf(chromiumMissing())('admin console in a browser', { timeout: 120_000 }, () => {
  let store: TestStore;
  let services: Services;
  let app: App;
  let base: string;
  let browser: Browser;
  let admin: DirectoryUser;
  let jane: DirectoryUser;

  beforeAll(async () => {
    store = await createTestStore('sqlite');
    services = await openTestServices(store);
    ({ app, baseUrl: base } = await listen(services));
    browser = await launchChromium();
    admin = await makeUser(services, { isAdmin: true, displayName: 'Ada Admin' });
    jane = await makeUser(services, { displayName: 'Jane Changed' });
    await giveMailPhoto(services, jane, await solidJpeg([200, 30, 30], 96));
    await services.sync.sync(jane, 'sharepoint_tile');
    await giveMailPhoto(services, jane, await solidJpeg([30, 30, 200], 96));
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await services?.close();
    await store?.drop();
  });

  const signIn = async (user: DirectoryUser): Promise<Page> => {
    const page = await (await browser.newContext({ locale: 'en-US' })).newPage();
    // The home page's own picture is itself a user action that syncs (a photo request); keep it
    // out so that the banner's button is the action under test.
    await page.route('**/_layouts/15/userphoto.aspx*', (route) => route.abort());
    await page.goto(`${base}/signin`);
    await page.fill('#upn', user.upn);
    await page.fill('#password', 'correct horse battery');
    await Promise.all([page.waitForURL(`${base}/`), page.click('form[action="/signin"] button')]);
    return page;
  };

  it('the admin filters to "changed since last sync" and asks the user; the user sees the banner', async () => {
    const adminPage = await signIn(admin);
    await adminPage.goto(`${base}/admin`);
    await adminPage.click('a[href="/admin/users?state=changed"]');
    await adminPage.selectOption('#state', 'changed');
    await Promise.all([adminPage.waitForURL(/state=changed/), adminPage.click('.filters button')]);
    const row = adminPage.locator(`tr[data-upn="${jane.upn}"]`);
    // A badge: an icon (hidden from screen readers) and the words.
    expect(await row.locator('.state .badge').textContent()).toBe('↻Changed since last sync');
    await row.locator('input[type=checkbox]').check();
    await loadsNewPage(adminPage, () => adminPage.click('text=Ask selected users to sync'));
    expect(await adminPage.locator('.notice').textContent()).toBe('Users asked to sync: 1.');

    const janePage = await signIn(jane);
    expect(await janePage.locator('#prompt-banner p').textContent()).toBe(
      'An administrator asks you to update your profile picture in SharePoint and OneDrive.',
    );
    expect(await janePage.locator('#prompt-banner button').textContent()).toBe('Update now');
    // One button: beside the photo only what the sites show, never that they show it everywhere.
    expect(await janePage.locator('[data-sites-lag]').count()).toBe(0);
    expect(await janePage.locator('[data-sites-lag-text]').textContent()).toBe(
      'SharePoint and OneDrive still show your previous picture.',
    );
  });

  it('the banner button syncs the user and the banner goes', async () => {
    // The button posts to the portal's SharePoint launch, which syncs with trigger "prompt".
    const janePage = await signIn(jane);
    // The sync runs before the answer that brings the new page, so it is done once that page is.
    await loadsNewPage(janePage, () => janePage.click('#prompt-banner button'));
    const status = await services.database.db
      .selectFrom('admin_user_status')
      .select('state')
      .where('user_id', '=', jane.id)
      .executeTakeFirstOrThrow();
    expect(status.state).toBe('in_step');
    expect((await listAttempts(services.database.db, jane.id))[0]?.trigger).toBe('prompt');
    await janePage.goto(`${base}/`);
    expect(await janePage.locator('#prompt-banner').count()).toBe(0);
  });
});
