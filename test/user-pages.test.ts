import sharp from 'sharp';
import { expect, it } from 'vitest';
import { en } from '../src/web/messages/en.js';
import { et } from '../src/web/messages/et.js';
import { getMailPhoto } from '../src/mail/photo-store.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import { FormClient } from './support/form-client.js';
import { describeEachDialect, useTestApp } from './support/services.js';

// What the portal's and the sites' pages tell a person about their own pictures, over HTTP on
// both databases.

const PASSWORD = 'correct horse battery';

describeEachDialect('the user pages', (dialect) => {
  const context = useTestApp(dialect);

  async function signedIn(overrides: Parameters<typeof makeUser>[1] = {}, language = 'en') {
    const user = await makeUser(context.services, overrides);
    const client = new FormClient(context.app, language);
    await client.signIn(user.upn, PASSWORD);
    return { user, client };
  }

  it('says where the sites lag the mail photo, with the update as the user’s action', async () => {
    const { services } = context;
    const { user, client } = await signedIn({ displayName: 'Tiina Tamm' }, 'et');
    // Never synced: the sites show no picture yet.
    await giveMailPhoto(services, user, await solidJpeg([200, 30, 40]));
    let home = await client.request('GET', '/');
    expect(home.body).toContain(et['lag.missing']);
    expect(home.body).not.toContain(et['home.photoSource']);
    expect(home.body).toMatch(/<form method="post" action="\/launch\/sharepoint">[^]*?Uuenda kohe<\/button>/);

    // The update is the tile's sync; then every page says it is in step.
    const update = await client.request('POST', '/launch/sharepoint', { _csrf: await client.csrfToken('/') });
    expect(update.statusCode).toBe(303);
    home = await client.request('GET', '/');
    expect(home.body).not.toContain('data-sites-lag');
    expect(home.body).toContain(et['home.photoSource']);

    // A new photo: Home, the photo page and SharePoint say the sites show the previous one.
    await giveMailPhoto(services, user, await solidJpeg([30, 160, 70]));
    for (const url of ['/', '/profile-photo', '/_layouts/15/sharepoint.aspx']) {
      const page = await client.request('GET', url);
      expect(page.body, url).toContain(et['lag.previous']);
      expect(page.body, url).toContain('data-sites-lag="previous"');
    }
    // Pages showing the user's own large picture sync as it loads: no notice there while that works.
    expect((await client.request('GET', '/_layouts/15/onedrive.aspx')).body).not.toContain('data-sites-lag');

    // The saved notice offers the update at once.
    const token = await client.csrfToken('/profile-photo');
    const saved = await client.upload('/profile-photo', token, await solidJpeg([30, 80, 200]));
    const after = await client.request('GET', saved.headers.location as string);
    expect(after.body).toMatch(new RegExp(`${et['photo.savedShort']}\\s*${et['lag.previous']}`));
  });

  it('says the sites show the current picture when only the rendition sizes changed', async () => {
    const { services } = context;
    const { user, client } = await signedIn({ displayName: 'Mari Maasikas' });
    await giveMailPhoto(services, user, await solidJpeg([120, 30, 140]));
    await client.request('POST', '/launch/sharepoint', { _csrf: await client.csrfToken('/') });
    const admin = await makeUser(services, { isAdmin: true });
    const sizes = services.syncSettings().renditionSizes;
    await services.settings.update({ renditionSizes: { ...sizes, L: sizes.L + 20 } }, admin);
    try {
      const home = await client.request('GET', '/');
      expect(home.body).toContain('data-sites-lag="resized"');
      expect(home.body).toContain(en['lag.resized']);
      expect(home.body).not.toContain(en['lag.previous']);
      // A new photo on top of that: the sites show the previous picture.
      await giveMailPhoto(services, user, await solidJpeg([30, 140, 120]));
      expect((await client.request('GET', '/')).body).toContain('data-sites-lag="previous"');
    } finally {
      await services.settings.update({ renditionSizes: sizes }, admin);
    }
  });

  it('refuses two pictures in one upload in the person’s language, and keeps the photo they had', async () => {
    for (const [language, words] of [
      ['en', en],
      ['et', et],
    ] as const) {
      const { user, client } = await signedIn({}, language);
      await giveMailPhoto(context.services, user, await solidJpeg([200, 30, 40]));
      const before = await getMailPhoto(context.services.database.db, user.id);
      const token = await client.csrfToken('/profile-photo');
      const boundary = '----two';
      const file = (name: string, jpeg: Buffer) =>
        Buffer.concat([
          Buffer.from(
            `--${boundary}\r\nContent-Disposition: form-data; name="photo"; filename="${name}"\r\nContent-Type: image/jpeg\r\n\r\n`,
          ),
          jpeg,
          Buffer.from('\r\n'),
        ]);
      // Only a crafted request sends this: the page's form has one file input.
      const refused = await context.app.inject({
        method: 'POST',
        url: '/profile-photo',
        headers: {
          cookie: client.cookieHeader,
          'accept-language': language,
          accept: 'text/html',
          'content-type': `multipart/form-data; boundary=${boundary}`,
        },
        payload: Buffer.concat([
          Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${token}\r\n`),
          file('one.jpg', await solidJpeg([30, 160, 70], 64)),
          file('two.jpg', await solidJpeg([30, 80, 200], 64)),
          Buffer.from(`--${boundary}--\r\n`),
        ]),
      });
      expect(refused.statusCode).toBe(413);
      expect(refused.body).toContain(`role="alert">${words['photo.error.one_file']}</p>`);
      expect(await getMailPhoto(context.services.database.db, user.id)).toEqual(before);
    }
  });

  it('names the pixel limit when a small file has too many pixels, in the person’s language', async () => {
    // 9000 × 9000 of one colour: a small file, 81 megapixels.
    const huge = await sharp({ create: { width: 9000, height: 9000, channels: 3, background: '#3366aa' } })
      .png()
      .toBuffer();
    for (const [language, limit] of [
      ['en', 'at most 50 megapixels are taken, whatever the file’s size'],
      ['et', 'Suurim lubatud megapikslite arv on 50, olenemata faili suurusest'],
    ] as const) {
      const { client } = await signedIn({}, language);
      const refused = await client.upload('/profile-photo', await client.csrfToken('/profile-photo'), huge);
      expect(refused.statusCode).toBe(400);
      expect(refused.body).toContain(limit);
    }
  });

  it('names an SVG drawing as such when it is sent without the page’s script, in the person’s language', async () => {
    const drawing = Buffer.from(
      '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
    );
    for (const language of ['en', 'et'] as const) {
      const { client } = await signedIn({}, language);
      const refused = await client.upload('/profile-photo', await client.csrfToken('/profile-photo'), drawing);
      expect(refused.statusCode).toBe(415);
      const words = language === 'en' ? en : et;
      expect(refused.body).toContain(words['photo.error.svg']);
    }
  });

  it('says nothing of lagging sites to people without a mailbox or without a photo', async () => {
    for (const overrides of [{ hasMailbox: false }, {}]) {
      const { client } = await signedIn(overrides);
      for (const url of ['/', '/_layouts/15/sharepoint.aspx']) {
        expect((await client.request('GET', url)).body).not.toContain('data-sites-lag');
      }
    }
    expect(en['lag.update']).toBe('Update now');
  });

  it('sends an ended session to sign in, saying so, and back to where the person was', async () => {
    const { user, client } = await signedIn({ isAdmin: true }, 'et');
    const token = await client.csrfToken('/');
    // The session runs out (here: it is ended elsewhere) while the page is open.
    await context.services.database.db.deleteFrom('directory_sessions').where('user_id', '=', user.id).execute();
    const tile = await context.app.inject({
      method: 'POST',
      url: '/launch/sharepoint',
      headers: {
        cookie: client.cookieHeader,
        referer: 'http://localhost:80/_layouts/15/person.aspx?accountname=lee%40contoso.com',
        host: 'localhost:80',
        'content-type': 'application/x-www-form-urlencoded',
      },
      payload: `_csrf=${encodeURIComponent(token)}`,
    });
    expect(tile.statusCode).toBe(303);
    const back = '/_layouts/15/person.aspx?accountname=lee%40contoso.com';
    expect(tile.headers.location).toBe(`/signin?next=${encodeURIComponent(back)}`);
    client.cookies.delete('photosync_session');
    // "Your session has ended" is said once, by the flash the refused form left, never by the address.
    const flash = tile.cookies.find((c) => c.name === 'photosync_flash');
    expect(flash?.value).toBeTruthy();
    client.cookies.set('photosync_flash', flash!.value);
    const signInPage = await client.request('GET', tile.headers.location as string);
    expect(signInPage.body).toContain(et['signin.ended']);
    expect(signInPage.body).toContain(`name="next" value="${back.replace('&', '&amp;')}"`);
    expect((await client.request('GET', tile.headers.location as string)).body).not.toContain(et['signin.ended']);
    expect((await client.request('GET', '/signin?ended=1')).body).not.toContain(et['signin.ended']);
    const signedInAgain = await client.request('POST', '/signin', {
      upn: user.upn,
      password: PASSWORD,
      next: back,
      _csrf: await client.csrfToken(tile.headers.location as string),
    });
    expect(signedInAgain.headers.location).toBe(back);
  });

  it('keeps deep links through sign-in, and only same-site ones', async () => {
    const user = await makeUser(context.services, { isAdmin: true });
    for (const link of ['/admin/users?state=failing', '/profile-photo']) {
      const client = new FormClient(context.app);
      const refused = await client.request('GET', link);
      expect(refused.headers.location).toBe(`/signin?next=${encodeURIComponent(link)}`);
      const page = await client.request('GET', refused.headers.location as string);
      expect(page.body).not.toContain(en['signin.ended']);
      const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
      const done = await client.request('POST', '/signin', {
        upn: user.upn,
        password: PASSWORD,
        next: link,
        _csrf: token,
      });
      expect(done.headers.location).toBe(link);
    }
    for (const evil of [
      '//evil.example/x',
      'https://evil.example/',
      '/\\evil.example',
      '/\\/evil.example',
      'javascript:alert(1)',
    ]) {
      const client = new FormClient(context.app);
      const page = await client.request('GET', `/signin?next=${encodeURIComponent(evil)}`);
      expect(page.body).not.toContain('name="next"');
      const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
      const done = await client.request('POST', '/signin', {
        upn: user.upn,
        password: PASSWORD,
        next: evil,
        _csrf: token,
      });
      expect(done.headers.location, evil).toBe('/');
      // Signed in already: the same address still goes home.
      expect((await client.request('GET', `/signin?next=${encodeURIComponent(evil)}`)).headers.location).toBe('/');
    }
  });

  it('switches the language and comes back to the same address, query included', async () => {
    const { client } = await signedIn({}, 'en');
    const view = '/_layouts/15/person.aspx?accountname=someone%40contoso.com';
    const page = await client.request('GET', view);
    expect(page.body).toContain(`name="back" value="${view}"`);
    const switched = await client.request('POST', '/language', {
      lang: 'et',
      back: view,
      _csrf: /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '',
    });
    expect(switched.headers.location).toBe(view);
    for (const evil of ['//evil.example', 'https://evil.example', '/\\evil.example']) {
      const refused = await client.request('POST', '/language', {
        lang: 'en',
        back: evil,
        _csrf: await client.csrfToken('/'),
      });
      expect(refused.headers.location).toBe('/');
    }
  });
});
