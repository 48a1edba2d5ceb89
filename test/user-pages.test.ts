import { expect, it } from 'vitest';
import { en } from '../src/web/messages/en.js';
import { et } from '../src/web/messages/et.js';
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

  it('says nothing of lagging sites to people without a mailbox or without a photo', async () => {
    for (const overrides of [{ hasMailbox: false }, {}]) {
      const { client } = await signedIn(overrides);
      for (const url of ['/', '/_layouts/15/sharepoint.aspx']) {
        expect((await client.request('GET', url)).body).not.toContain('data-sites-lag');
      }
    }
    expect(en['lag.update']).toBe('Update now');
  });
});
