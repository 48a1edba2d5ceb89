import { expect, it } from 'vitest';
import { translator } from '../src/web/i18n.js';
import { en } from '../src/web/messages/en.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import { FormClient } from './support/form-client.js';
import { describeEachDialect, useTestApp } from './support/services.js';

// What a form says after it redirects travels as a one-time flash: shown once on the page it was
// left for, gone on refresh, never read from the address, and never from a cookie not signed here.

const PASSWORD = 'correct horse battery';
const FLASH = 'photosync_flash';

describeEachDialect('one-time messages after a form', (dialect) => {
  const context = useTestApp(dialect);

  async function signedIn(overrides: Parameters<typeof makeUser>[1] = {}, language = 'en') {
    const user = await makeUser(context.services, overrides);
    const client = new FormClient(context.app, language);
    await client.signIn(user.upn, PASSWORD);
    return { user, client };
  }

  it('shows the tile’s sync outcome once on the app it opens; the address carries none', async () => {
    const { user, client } = await signedIn({}, 'et');
    await giveMailPhoto(context.services, user, await solidJpeg([200, 30, 40], 120));
    const said = translator('et')('sync.synced', { app: 'SharePoint' });

    const tile = await client.request('POST', '/launch/sharepoint', { _csrf: await client.csrfToken('/') });
    expect(tile.headers.location).toBe('/_layouts/15/sharepoint.aspx');
    expect(tile.headers['x-photosync-sync']).toBe('synced');
    // Another page on the way does not take the message meant for SharePoint.
    expect((await client.request('GET', '/')).body).not.toContain(said);
    expect((await client.request('GET', '/_layouts/15/sharepoint.aspx')).body).toContain(said);
    const refreshed = await client.request('GET', '/_layouts/15/sharepoint.aspx');
    expect(refreshed.body).not.toContain('data-sync-result');
    expect(client.cookies.has(FLASH)).toBe(false);

    // The old addresses are the page without a message, whatever they say.
    for (const url of ['/_layouts/15/sharepoint.aspx?sync=synced', '/_layouts/15/onedrive.aspx?sync=failed']) {
      const forged = await client.request('GET', url);
      expect(forged.statusCode, url).toBe(200);
      expect(forged.body, url).not.toContain('data-sync-result');
    }
    const photoPage = await client.request('GET', '/profile-photo?done=saved');
    expect(photoPage.statusCode).toBe(200);
    expect(photoPage.body).not.toContain(translator('et')('photo.savedShort'));
  });

  it('shows "Settings saved" once, and nothing for /admin?notice=prompted&n=999 or ?notice=saved', async () => {
    const { client } = await signedIn({ isAdmin: true });
    const saved = en['admin.notice.saved'];
    for (const url of [
      '/admin?notice=prompted&n=999',
      '/admin?notice=synced&n=999',
      '/admin/settings?notice=saved',
      '/admin/users?notice=synced&n=5',
      '/admin/users?notice=prompted&audit=1',
    ]) {
      const forged = await client.request('GET', url);
      expect(forged.statusCode, url).toBe(200);
      expect(forged.body, url).not.toMatch(/class="(notice|alert)[ "]/);
    }

    const form = await client.request('GET', '/admin/settings');
    const token = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1] ?? '';
    const post = await client.request('POST', '/admin/settings', {
      _csrf: token,
      sizeS: '48',
      sizeM: '72',
      sizeL: '300',
      recheckSeconds: '0',
      errorBackoffSeconds: '300',
      mailFrom: 'photosync@contoso.com',
    });
    expect(post.statusCode).toBe(303);
    expect(post.headers.location).toBe('/admin/settings');
    expect((await client.request('GET', '/admin/settings')).body).toContain(saved);
    expect((await client.request('GET', '/admin/settings')).body).not.toContain(saved);
  });

  it('tells only the admin who asked how many were asked, once', async () => {
    const { client } = await signedIn({ isAdmin: true });
    const jane = await makeUser(context.services, { displayName: 'Jane Asked' });
    await giveMailPhoto(context.services, jane, await solidJpeg([30, 30, 200], 96));
    const token = await client.csrfToken('/admin/users');
    const asked = await client.request('POST', '/admin/prompts', { _csrf: token, upn: [jane.upn] });
    expect(asked.headers.location).toBe('/admin/users');
    const flash = client.cookies.get(FLASH);
    expect(flash).toBeDefined();

    // Another admin's browser given the same cookie is told nothing: the entry is not theirs.
    const other = await signedIn({ isAdmin: true });
    other.client.cookies.set(FLASH, flash!);
    expect((await other.client.request('GET', '/admin/users')).body).not.toContain('role="status"');

    const said = en['admin.notice.prompted'].replace('{n}', '1');
    expect((await client.request('GET', '/admin/users')).body).toContain(said);
    expect((await client.request('GET', '/admin/users')).body).not.toContain(said);
  });

  it('ignores and clears a flash cookie that was not signed here, or was changed', async () => {
    const { client } = await signedIn({ isAdmin: true });
    const token = await client.csrfToken('/admin/settings');
    await client.request('POST', '/admin/settings', {
      _csrf: token,
      sizeS: '48',
      sizeM: '72',
      sizeL: '300',
      recheckSeconds: '0',
      errorBackoffSeconds: '300',
      mailFrom: 'photosync@contoso.com',
    });
    const real = client.cookies.get(FLASH)!;
    const [body, signature] = real.split('.');
    const payload = JSON.parse(Buffer.from(body!, 'base64url').toString()) as Record<string, unknown>;
    const changed = Buffer.from(JSON.stringify({ ...payload, name: 'synced', n: 999 })).toString('base64url');
    const unsigned = Buffer.from(JSON.stringify({ ...payload, n: 1 })).toString('base64url');
    for (const forged of [`${changed}.${signature}`, unsigned, `${unsigned}.`, 'saved', `${body}.${'A'.repeat(43)}`]) {
      client.cookies.set(FLASH, forged);
      const page = await client.request('GET', '/admin/settings');
      expect(page.body, forged).not.toContain(en['admin.notice.saved']);
      expect(page.body, forged).not.toMatch(/class="(notice|alert)[ "]/);
      expect(client.cookies.has(FLASH), forged).toBe(false);
    }
  });

  it('says "Your photo is saved" and "Your picture is uploaded" once', async () => {
    const { client } = await signedIn();
    const token = await client.csrfToken('/profile-photo');
    const saved = await client.upload('/profile-photo', token, await solidJpeg([30, 160, 70], 200));
    expect(saved.headers.location).toBe('/profile-photo');
    expect((await client.request('GET', '/profile-photo')).body).toContain(en['photo.savedShort']);
    expect((await client.request('GET', '/profile-photo')).body).not.toContain(en['photo.savedShort']);
    const removed = await client.request('POST', '/profile-photo/remove', { _csrf: token });
    expect(removed.headers.location).toBe('/profile-photo');
    expect((await client.request('GET', '/profile-photo')).body).toContain(en['photo.removedShort']);
    expect((await client.request('GET', '/profile-photo')).body).not.toContain(en['photo.removedShort']);

    const lee = await signedIn({ hasMailbox: false });
    const leeToken = await lee.client.csrfToken('/_layouts/15/editprofile.aspx');
    await lee.client.upload('/_layouts/15/editprofile.aspx', leeToken, await solidJpeg([30, 80, 200], 120));
    expect((await lee.client.request('GET', '/_layouts/15/editprofile.aspx')).body).toContain(en['sites.upload.done']);
    expect((await lee.client.request('GET', '/_layouts/15/editprofile.aspx?done=1')).body).not.toContain(
      en['sites.upload.done'],
    );
  });
});
