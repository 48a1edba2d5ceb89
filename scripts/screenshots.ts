import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { pino } from 'pino';
import sharp from 'sharp';
import { loadConfig } from '../src/config.js';
import { faceSvg } from '../src/demo/faces.js';
import { DEMO_PASSWORD, DEMO_PEOPLE, seedDemoOrganisation } from '../src/demo/seed.js';
import { findUserByUpn } from '../src/directory/users.js';
import { buildApp } from '../src/app.js';
import { setMailPhoto } from '../src/mail/photo-store.js';
import { rasterizeSvg } from '../src/media/media.js';
import { createServices } from '../src/services.js';
import { chromiumMissing, launchChromium } from '../test/support/chromium.js';

// Screenshots of the main pages for README.md (`npm run screenshots`): the demo organisation on a
// throwaway data folder, the real server on a free port, Debian's Chromium at desktop and 360 px.

const OUT = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
const DESKTOP = { width: 1280, height: 820 };
const PHONE = { width: 360, height: 740 };

/** A wide picture with a face in the middle, as a phone photo would be. */
async function landscape(): Promise<Buffer> {
  const face = await rasterizeSvg(
    faceSvg({ background: '#fde7c8', skin: '#f1c7a5', hair: '#8b4a1c', shirt: '#0f6cbd', hairStyle: 1 }),
    360,
  );
  return sharp({ create: { width: 900, height: 500, channels: 3, background: '#9cc7a4' } })
    .composite([{ input: face, gravity: 'centre' }])
    .jpeg()
    .toBuffer();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function main(): Promise<void> {
  const missing = chromiumMissing();
  if (missing) throw new Error(missing);
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-screenshots-'));
  // A free port chosen first, so that absolute URLs on the pages (PictureURL) name the real server.
  const port = await freePort();
  const config = loadConfig({ PHOTOSYNC_DATA_DIR: dataDir, PHOTOSYNC_DEMO: 'true', PORT: String(port) });
  const services = await createServices({ ...config, databaseUrl: undefined }, { log: pino({ level: 'silent' }) });
  const app = await buildApp(services);
  let browser: Browser | undefined;
  try {
    await seedDemoOrganisation(services);
    // Most colleagues synced, so the People section shows faces (and one placeholder).
    for (const { upn } of DEMO_PEOPLE) {
      const user = await findUserByUpn(services.database.db, upn);
      if (user && upn !== 'jane@contoso.com') await services.sync.sync(user, 'admin');
    }
    await app.listen({ host: '127.0.0.1', port });
    const address = app.server.address();
    if (!address || typeof address === 'string') throw new Error('no address');
    const base = `http://localhost:${address.port}`;
    browser = await launchChromium();
    await fs.mkdir(OUT, { recursive: true });

    const window = async (locale: string, viewport = DESKTOP) =>
      (await browser!.newContext({ locale, viewport })).newPage();
    const shot = async (page: Page, name: string) => {
      await page.waitForLoadState('networkidle');
      await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
      console.log(`docs/screenshots/${name}.png`);
    };
    const signIn = async (page: Page, upn: string) => {
      await page.goto(`${base}/signin`);
      await page.fill('#upn', upn);
      await page.fill('#password', DEMO_PASSWORD);
      await Promise.all([page.waitForURL(`${base}/`), page.click('form[action="/signin"] button[type=submit]')]);
    };

    const jane = await window('en-GB');
    await jane.goto(`${base}/signin`);
    await shot(jane, 'signin');
    await signIn(jane, 'jane@contoso.com');
    await shot(jane, 'home');
    await jane.goto(`${base}/profile-photo`);
    await shot(jane, 'profile-photo');
    // A landscape picture chosen: the preview shows the square it will be cropped to.
    await jane.setInputFiles('#photo', { name: 'holiday.jpg', mimeType: 'image/jpeg', buffer: await landscape() });
    await jane.waitForSelector('[data-preview]:not([hidden])');
    await shot(jane, 'profile-photo-preview');
    await Promise.all([
      jane.waitForURL(/sharepoint/),
      jane.goto(`${base}/`).then(() => jane.click('form[action="/launch/sharepoint"] button')),
    ]);
    await shot(jane, 'sharepoint');
    await jane.goto(`${base}/_layouts/15/person.aspx?accountname=jane@contoso.com`);
    await shot(jane, 'profile');
    await jane.goto(`${base}/`);
    await Promise.all([jane.waitForURL(/onedrive/), jane.click('form[action="/launch/onedrive"] button')]);
    await shot(jane, 'onedrive');
    // A new photo after the sync: the saved notice says the sites still show the previous picture
    // and offers the update at once; Home says so too until she acts.
    await jane.goto(`${base}/profile-photo`);
    await jane.setInputFiles('#photo', { name: 'holiday.jpg', mimeType: 'image/jpeg', buffer: await landscape() });
    await jane.waitForSelector('[data-preview]:not([hidden])');
    await jane.click('form.upload button[type=submit]');
    await jane.waitForSelector('[data-sites-lag]');
    await shot(jane, 'profile-photo-saved');
    await jane.goto(`${base}/`);
    await shot(jane, 'home-stale');
    // The suite bar's menus: the waffle's app launcher and the avatar's account menu.
    await jane.click('.suite-bar .launcher > button');
    await shot(jane, 'launcher');
    await jane.click('.suite-bar .account > button');
    await shot(jane, 'account-menu');
    // An address that does not exist: a page in the person's language, with the way back.
    await jane.goto(`${base}/_layouts/15/nothing.aspx`);
    await shot(jane, 'not-found');

    const kalle = await window('et-EE');
    await signIn(kalle, 'kalle@contoso.com');
    await shot(kalle, 'home-et');
    await kalle.goto(`${base}/help/profile-picture-sync`);
    await shot(kalle, 'help-et');

    const lee = await window('en-GB');
    await signIn(lee, 'lee@contoso.com');
    await lee.goto(`${base}/_layouts/15/editprofile.aspx`);
    await shot(lee, 'upload-picture-no-mailbox');

    // The admin console: Kalle's mail photo changes after his last sync; the admin sees who is out
    // of step, asks Kalle to sync, and Kalle's next portal visit shows the banner.
    const kalleUser = await findUserByUpn(services.database.db, 'kalle@contoso.com');
    if (kalleUser) await setMailPhoto(services.mailStore, kalleUser, await landscape());
    const admin = await window('en-GB');
    await signIn(admin, 'admin@contoso.com');
    await admin.goto(`${base}/admin`);
    await shot(admin, 'admin-overview');
    await admin.goto(`${base}/admin/users?state=changed`);
    await admin.check('tr[data-upn="kalle@contoso.com"] input[type=checkbox]');
    await shot(admin, 'admin-users-changed');
    await Promise.all([
      admin.waitForURL(`${base}/admin/users?state=changed&sort=action`),
      admin.click('#prompt-selected'),
    ]);
    await admin.goto(`${base}/admin/users/kalle@contoso.com`);
    await shot(admin, 'admin-user-detail');
    // Someone with no photo anywhere: the placeholder picture stands in for each.
    await admin.goto(`${base}/admin/users/nestor@contoso.com`);
    await shot(admin, 'admin-user-no-photo');
    await kalle.goto(`${base}/`);
    await shot(kalle, 'home-banner-et');

    const phone = await window('et-EE', PHONE);
    await signIn(phone, 'megan@contoso.com');
    await shot(phone, 'home-phone-et');
    await phone.goto(`${base}/profile-photo`);
    await shot(phone, 'profile-photo-phone-et');
    await phone.goto(`${base}/`);
    await phone.click('.suite-bar .launcher > button');
    await shot(phone, 'launcher-phone-et');
  } finally {
    await browser?.close();
    await app.close();
    await services.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

await main();
