import { beforeAll, expect, it } from 'vitest';
import type { DirectoryUser } from '../src/directory/users.js';
import type { App } from '../src/app.js';
import { getMailPhoto } from '../src/mail/photo-store.js';
import { en } from '../src/web/messages/en.js';
import { et } from '../src/web/messages/et.js';
import type { Services } from '../src/services.js';
import { getSiteProfile } from '../src/sites/profiles.js';
import { listAttempts } from '../src/sync/history.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import { describeEachDialect, useTestApp } from './support/services.js';

// The portal's and the sites' pages over HTTP on both databases: the tiles' contract, the photo
// forms and what a refused or forged form leaves behind (nothing).

const PASSWORD = 'correct horse battery';

/** A cookie jar and the form token, as a browser holds them. */
function client(app: App, language = 'en') {
  const cookies = new Map<string, string>();
  const headers = (extra: Record<string, string> = {}) => ({
    cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
    'accept-language': language,
    ...extra,
  });
  const keep = (response: Awaited<ReturnType<App['inject']>>) => {
    for (const c of response.cookies) {
      if (c.value === '' || c.maxAge === 0) cookies.delete(c.name);
      else cookies.set(c.name, c.value);
    }
    return response;
  };
  const self = {
    cookies,
    get: async (url: string) => keep(await app.inject({ method: 'GET', url, headers: headers() })),
    post: async (url: string, form: Record<string, string>) =>
      keep(
        await app.inject({
          method: 'POST',
          url,
          headers: headers({ 'content-type': 'application/x-www-form-urlencoded' }),
          payload: new URLSearchParams(form).toString(),
        }),
      ),
    upload: async (url: string, token: string, file: Buffer, type = 'image/jpeg') => {
      const boundary = '----photosynctest';
      const payload = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${token}\r\n`),
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="photo"; filename="me.jpg"\r\nContent-Type: ${type}\r\n\r\n`,
        ),
        file,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      return keep(
        await app.inject({
          method: 'POST',
          url,
          headers: headers({ 'content-type': `multipart/form-data; boundary=${boundary}` }),
          payload,
        }),
      );
    },
    token: async (url = '/signin') => {
      const page = await self.get(url);
      const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
      if (!token) throw new Error(`no form token on ${url}`);
      return token;
    },
    signIn: async (user: DirectoryUser) =>
      self.post('/signin', { upn: user.upn, password: PASSWORD, _csrf: await self.token() }),
  };
  return self;
}

describeEachDialect('portal pages', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  beforeAll(() => ({ services, app } = context));

  it('runs the sync from each tile with its trigger, and from the prompt banner as "prompt"', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg([200, 30, 40], 200));
    const browser = client(app);
    await browser.signIn(user);
    const token = await browser.token('/');

    // Each tile lands on its app, which says once what the sync did (a flash, not the address).
    const sharepoint = await browser.post('/launch/sharepoint', { _csrf: token });
    expect(sharepoint.statusCode).toBe(303);
    expect(sharepoint.headers.location).toBe('/_layouts/15/sharepoint.aspx');
    const landed = await browser.get('/_layouts/15/sharepoint.aspx');
    expect(landed.body).toContain('Your profile picture is now up to date in SharePoint.');
    expect(landed.body).toMatch(/userphoto\.aspx\?size=M&amp;accountname=[^"]+&amp;t=\d+/);
    expect((await browser.get('/_layouts/15/sharepoint.aspx')).body).not.toContain('data-sync-result');
    const onedrive = await browser.post('/launch/onedrive', { _csrf: token });
    expect(onedrive.headers.location).toBe('/_layouts/15/onedrive.aspx');
    expect((await browser.get('/_layouts/15/onedrive.aspx')).body).toContain(
      en['sync.unchanged'].replace('{app}', 'OneDrive'),
    );
    const prompted = await browser.post('/launch/sharepoint', { _csrf: token, from: 'prompt' });
    expect(prompted.headers.location).toBe('/_layouts/15/sharepoint.aspx');
    const triggers = (await listAttempts(services.database.db, user.id)).map((a) => a.trigger);
    expect(triggers).toEqual(['prompt', 'onedrive_tile', 'sharepoint_tile']);

    // One's own profile says what its picture shows: the page syncs first, as the picture would.
    const newcomer = await makeUser(services);
    await giveMailPhoto(services, newcomer, await solidJpeg([30, 160, 70]));
    const own = client(app);
    await own.signIn(newcomer);
    const profile = await own.get('/_layouts/15/person.aspx');
    expect(profile.statusCode).toBe(200);
    expect(profile.body).not.toContain(en['sites.placeholder']);
    expect(profile.body).toContain(en['sites.pictureFromMailOwn'].split('{')[0]!.trim());
    expect((await listAttempts(services.database.db, newcomer.id)).map((a) => [a.trigger, a.outcome])).toEqual([
      ['photo_request', 'synced'],
    ]);

    const nobody = await browser.get('/_layouts/15/person.aspx?accountname=nobody@contoso.com');
    expect(nobody.statusCode).toBe(404);
    expect(nobody.body).toContain('There is nobody with that account here.');
  });

  it('refuses a tile without its form token or without a session, syncing nothing', async () => {
    const user = await makeUser(services);
    const browser = client(app, 'et');
    await browser.signIn(user);
    const forged = await browser.post('/launch/sharepoint', { _csrf: 'forged' });
    expect(forged.statusCode).toBe(403);
    expect(forged.body).toContain('Vorm on aegunud');
    const anonymous = client(app);
    const token = await anonymous.token();
    const signedOut = await anonymous.post('/launch/onedrive', { _csrf: token });
    expect(signedOut.headers.location).toBe('/signin');
    expect(await listAttempts(services.database.db, user.id)).toEqual([]);
  });

  it('saves, refuses and removes the mail photo from the profile photo page', async () => {
    const user = await makeUser(services);
    const browser = client(app, 'et');
    await browser.signIn(user);
    const token = await browser.token('/profile-photo');

    const saved = await browser.upload('/profile-photo', token, await solidJpeg([30, 160, 70], 300));
    expect(saved.headers.location).toBe('/profile-photo');
    const photo = await getMailPhoto(services.database.db, user.id);
    expect(photo).toBeDefined();
    const page = await browser.get('/profile-photo');
    expect(page.body).toContain(`/portal/photo?size=240&amp;v=${photo!.etag}`);
    expect(page.body).toContain(et['photo.savedShort']);
    expect((await browser.get('/profile-photo')).body).not.toContain(et['photo.savedShort']);

    const refused = await browser.upload('/profile-photo', token, Buffer.from('GIF89a but not really'), 'image/gif');
    expect(refused.statusCode).toBe(400);
    expect(refused.body).toContain('Pilt on vigane ja seda ei saa lugeda.');
    const text = await browser.upload('/profile-photo', token, Buffer.from('hello'), 'text/plain');
    expect(text.statusCode).toBe(415);
    expect(text.body).toContain('Seda faili ei saa pildina kasutada.');
    const forged = await browser.upload('/profile-photo', 'forged', await solidJpeg([1, 2, 3], 100));
    expect(forged.statusCode).toBe(403);
    expect(await getMailPhoto(services.database.db, user.id)).toEqual(photo);

    const own = await browser.get(`/portal/photo?size=48&v=${photo!.etag}`);
    expect(own.headers['content-type']).toBe('image/jpeg');
    expect(own.headers['cache-control']).toContain('immutable');
    expect((await browser.get('/portal/photo?size=48&v=old')).headers['cache-control']).toBe('private, no-cache');

    const removed = await browser.post('/profile-photo/remove', { _csrf: token });
    expect(removed.headers.location).toBe('/profile-photo');
    expect(await getMailPhoto(services.database.db, user.id)).toBeUndefined();
    expect((await browser.get('/portal/photo?size=48')).statusCode).toBe(404);
    expect((await browser.get('/profile-photo')).body).toContain(et['photo.removedShort']);
    // Removed already (in another tab, say): the page says there was nothing to remove, not "removed".
    const again = await browser.post('/profile-photo/remove', { _csrf: token });
    expect(again.headers.location).toBe('/profile-photo');
    const nothing = await browser.get('/profile-photo');
    expect(nothing.body).toContain(et['photo.nothingToRemove']);
    expect(nothing.body).not.toContain(et['photo.removedShort']);
    expect(await getMailPhoto(services.database.db, user.id)).toBeUndefined();
    // Opened as an address in the browser, the refusal is a page, never raw JSON.
    const cookie = [...browser.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const opened = await app.inject({ url: '/portal/photo', headers: { accept: 'text/html', cookie } });
    expect(opened.statusCode).toBe(404);
    expect(opened.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(
      (await app.inject({ url: '/portal/photo?size=999', headers: { accept: 'text/html', cookie } })).headers[
        'content-type'
      ],
    ).toBe('text/html; charset=utf-8');
    // Signed out, the address leads to the sign-in page, not to "no photo".
    const signedOut = await app.inject({ url: '/portal/photo', headers: { accept: 'text/html' } });
    expect([signedOut.statusCode, signedOut.headers.location]).toEqual([303, '/signin?next=%2Fportal%2Fphoto']);
  });

  it('sends people without a mailbox to "Upload picture" in the sites, which sets their site picture', async () => {
    const user = await makeUser(services, { hasMailbox: false, displayName: 'Lee Gu' });
    const browser = client(app);
    await browser.signIn(user);
    expect((await browser.get('/profile-photo')).headers.location).toBe('/_layouts/15/editprofile.aspx');
    const home = await browser.get('/');
    expect(home.body).toMatch(/data-initials[^>]*>LG</);
    const token = await browser.token('/_layouts/15/editprofile.aspx');
    const uploaded = await browser.upload('/_layouts/15/editprofile.aspx', token, await solidJpeg([30, 80, 200], 120));
    expect(uploaded.headers.location).toBe('/_layouts/15/editprofile.aspx');
    expect((await browser.get('/_layouts/15/editprofile.aspx')).body).toContain(en['sites.upload.done']);
    expect((await browser.get('/_layouts/15/editprofile.aspx')).body).not.toContain(en['sites.upload.done']);
    expect(await getSiteProfile(services.database.db, user.id)).toMatchObject({
      placeholderState: 0,
      pictureSource: 'upload',
      exchangeSyncState: 0,
    });
  });

  it('remembers the chosen language over Accept-Language, and only goes back to this site', async () => {
    const browser = client(app, 'en');
    const token = await browser.token();
    const chosen = await browser.post('/language', { _csrf: token, lang: 'et', back: '//evil.example/x' });
    expect(chosen.headers.location).toBe('/');
    expect(browser.cookies.get('photosync_lang')).toBe('et');
    expect((await browser.get('/signin')).body).toContain('<html lang="et">');
    for (const odd of ['/\u007f', '/caf\u00e9', '/\u2713', '/a\u0001b']) {
      const refused = await browser.post('/language', { _csrf: token, lang: 'et', back: odd });
      expect(refused.statusCode, JSON.stringify(odd)).toBe(303);
      expect(refused.headers.location).toBe('/');
    }
    const back = await browser.post('/language', { _csrf: token, lang: 'en', back: '/help/profile-picture-sync' });
    expect(back.headers.location).toBe('/help/profile-picture-sync');
    const help = await browser.get('/help/profile-picture-sync');
    expect(help.body).toContain('Profile picture synchronization');
  });

  it("answers a page address with an odd query with a page in the user's language, not JSON", async () => {
    const browser = client(app, 'et');
    await browser.signIn(await makeUser(services));
    for (const url of [
      `/_layouts/15/person.aspx?accountname=${'a'.repeat(400)}`,
      '/_layouts/15/person.aspx?accountname=a&accountname=b',
    ]) {
      const answer = await browser.get(url);
      expect(answer.statusCode, url).toBe(400);
      expect(answer.headers['content-type']).toContain('text/html');
      expect(answer.body).toContain(et['error.badAddress']);
    }
    const token = await browser.token('/');
    for (const [url, form] of [
      ['/language', { _csrf: token, lang: 'fr', back: '/' }],
      ['/launch/bogus', { _csrf: token }],
    ] as const) {
      const answer = await browser.post(url, form);
      expect(answer.statusCode, url).toBe(400);
      expect(answer.body).toContain(et['admin.error.invalid']);
    }
  });

  it('describes the page routes in the OpenAPI document', async () => {
    const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: object }>();
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(['/launch/{app}', '/profile-photo', '/_layouts/15/sharepoint.aspx', '/language']),
    );
  });

  it('shows the Admin link in the suite bar to administrators only', async () => {
    const admin = client(app);
    await admin.signIn(await makeUser(services, { isAdmin: true }));
    expect((await admin.get('/')).body).toContain('href="/admin"');
    const member = client(app);
    await member.signIn(await makeUser(services));
    expect((await member.get('/')).body).not.toContain('href="/admin"');
  });
});
