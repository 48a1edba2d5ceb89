import fs from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import type { DirectoryUser } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import type { BlobFileSystem } from '../src/storage/blob-store.js';
import { LIBRARY_PATH } from '../src/sites/library.js';
import { fileStemOf } from '../src/sites/profiles.js';
import { appToken, bearer, userToken } from './support/apps.js';
import { closeTo, giveMailPhoto, makeUser, meanColour, solidJpeg } from './support/factories.js';
import { FormClient } from './support/form-client.js';
import { createTestStore, openTestServices, type TestStore } from './support/services.js';

// A photo replaced between the moment a reader reads its row and the moment it reads its
// file: the new photo's commit deletes the old file at once, so the reader finds none. Every
// reader of the mail photo (Graph's photo and sizes, the suite bar's /portal/photo, the console's
// photo) answers with the photo as it is then, never a 500; so does a file of the sites' library
// replaced by a sync. The replacement is made to land in that gap every time: the file system the
// photo store uses replaces the photo before the read it was asked for.

const PASSWORD = 'correct horse battery';
const RED: [number, number, number] = [200, 30, 30];

let store: TestStore;
let services: Services;
let app: App;
let jane: DirectoryUser;
let token: string;
let admin: FormClient;
let janeBrowser: FormClient;
/** Set by a test: the next read of a mail photo file first replaces Jane's photo. */
let beforeNextMailRead: (() => Promise<unknown>) | undefined;
/** Set by a test: the next read of a site picture's file first replaces it with a sync. */
let beforeNextSiteRead: (() => Promise<unknown>) | undefined;
let lostFiles = false;

beforeAll(async () => {
  store = await createTestStore('sqlite');
  const files: BlobFileSystem = {
    ...fs,
    readFile: (async (file: Parameters<typeof fs.readFile>[0], ...rest: unknown[]) => {
      const isMail = String(file).includes('/mail/');
      const step = beforeNextMailRead;
      if (step && isMail) {
        beforeNextMailRead = undefined;
        await step();
      }
      const siteStep = beforeNextSiteRead;
      if (siteStep && String(file).includes('/sites/')) {
        beforeNextSiteRead = undefined;
        await siteStep();
      }
      if (lostFiles && isMail) throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
      return (fs.readFile as (...args: unknown[]) => Promise<Buffer>)(file, ...rest);
    }) as typeof fs.readFile,
  };
  services = await openTestServices(store, {}, { blobFiles: files });
  app = await buildApp(services);
  jane = await makeUser(services);
  token = await userToken(services, jane);
  const administrator = await makeUser(services, { isAdmin: true });
  admin = new FormClient(app);
  expect((await admin.signIn(administrator.upn, PASSWORD)).statusCode).toBe(303);
  janeBrowser = new FormClient(app);
  expect((await janeBrowser.signIn(jane.upn, PASSWORD)).statusCode).toBe(303);
});

afterAll(async () => {
  await app?.close();
  await services?.close();
  await store?.drop();
});

const readers: Array<[string, () => Promise<{ statusCode: number; rawPayload: Buffer; body: string }>]> = [
  ['Graph photo/$value', () => app.inject({ url: '/v1.0/me/photo/$value', headers: bearer(token) })],
  ['Graph photos/48x48/$value', () => app.inject({ url: '/v1.0/me/photos/48x48/$value', headers: bearer(token) })],
  ['the suite bar’s /portal/photo', () => janeBrowser.request('GET', '/portal/photo?size=96')],
  ['the console’s photo', () => admin.request('GET', `/admin/photos/${jane.upn}/mail`)],
];

it.each(readers)('%s answers with the photo that replaced the one it was reading', async (_, read) => {
  await giveMailPhoto(services, jane, await solidJpeg(RED, 400));
  const blue: [number, number, number] = [30, 30, 100 + Math.floor(Math.random() * 150)];
  beforeNextMailRead = async () => giveMailPhoto(services, jane, await solidJpeg(blue, 400));
  const response = await read();
  expect(beforeNextMailRead, 'the photo was replaced during the request').toBeUndefined();
  expect(response.statusCode, response.body).toBe(200);
  expect(closeTo(await meanColour(response.rawPayload), blue)).toBe(true);
});

it.each(readers)('%s answers 404 when the photo was removed meanwhile', async (_, read) => {
  await giveMailPhoto(services, jane, await solidJpeg(RED, 400));
  beforeNextMailRead = () =>
    app.inject({ method: 'DELETE', url: '/v1.0/me/photo', headers: bearer(token) }).then((r) => {
      expect(r.statusCode).toBe(204);
    });
  const response = await read();
  expect(beforeNextMailRead).toBeUndefined();
  expect(response.statusCode, response.body).toBe(404);
});

it('a file lost while its row still names it stays an error, and is not looked for again and again', async () => {
  await giveMailPhoto(services, jane, await solidJpeg(RED, 400));
  lostFiles = true;
  try {
    const response = await app.inject({ url: '/v1.0/me/photo/$value', headers: bearer(token) });
    expect(response.statusCode).toBe(500);
    expect(response.json().error.code).toBe('generalException');
  } finally {
    lostFiles = false;
  }
});

it('a library file read while a sync replaces it answers with the new picture (SharePoint REST)', async () => {
  await giveMailPhoto(services, jane, await solidJpeg(RED, 400));
  await services.sync.sync(jane, 'admin');
  const stem = await fileStemOf(services.database.db, jane);
  const reader = await appToken(services, ['ProfilePhoto.Read.All']);
  const blue: [number, number, number] = [30, 30, 220];
  beforeNextSiteRead = async () => {
    await giveMailPhoto(services, jane, await solidJpeg(blue, 400));
    expect((await services.sync.sync(jane, 'admin')).outcome).toBe('synced');
    // The replaced files go after the sync has answered: gone by the time the request reads one.
    await services.sync.settle();
  };
  const file = `'${encodeURIComponent(`${LIBRARY_PATH}/${stem}_LThumb.jpg`)}'`;
  const response = await app.inject({
    url: `/_api/web/GetFileByServerRelativeUrl(${file})/$value`,
    headers: bearer(reader),
  });
  expect(beforeNextSiteRead, 'the picture was replaced during the request').toBeUndefined();
  expect(response.statusCode, response.body).toBe(200);
  expect(closeTo(await meanColour(response.rawPayload), blue)).toBe(true);
});
