import { expect, it } from 'vitest';
import { getMailPhoto } from '../src/mail/photo-store.js';
import { translator } from '../src/web/i18n.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import { useServer } from './support/browser.js';
import { HttpClient, pageMessage } from './support/http-client.js';
import { describeEachDialect, useTestServices } from './support/services.js';

// The upload forms without their script: a chosen file of zero bytes is said to be empty, and
// a form sent with no file chosen (the browser sends an unnamed, empty part) asks for a picture.
// Both said "Choose a picture first", which to a person who chose a file reads as a fault of the
// form. Neither changes the photo.

describeEachDialect('an empty file from the upload forms', (dialect) => {
  const context = useTestServices(dialect);
  const server = useServer(() => context.services);

  it('says the chosen file is empty, or asks for a picture when none was chosen, and keeps the photo', async () => {
    const user = await makeUser(context.services);
    const before = await giveMailPhoto(context.services, user, await solidJpeg([20, 20, 200], 96));
    const t = translator('et');
    const client = new HttpClient(server.baseUrl, 'et');
    await client.signIn(user.upn, 'correct horse battery');

    const token = await client.csrfToken('/profile-photo');
    const empty = await client.upload('/profile-photo', token, Buffer.alloc(0), 'me.jpg', 'image/jpeg');
    expect(empty.status).toBe(400);
    expect(pageMessage(empty.body)).toBe(t('photo.error.emptyFile'));

    const none = await client.upload('/profile-photo', token, Buffer.alloc(0), '', 'application/octet-stream');
    expect(none.status).toBe(400);
    expect(pageMessage(none.body)).toBe(t('photo.error.empty'));

    expect((await getMailPhoto(context.services.database.db, user.id))?.etag).toBe(before.etag);
  });

  it('says a cut-off upload did not arrive whole (it was a 500), on both forms, and keeps the photo', async () => {
    const user = await makeUser(context.services, { hasMailbox: true });
    const before = await giveMailPhoto(context.services, user, await solidJpeg([20, 20, 200], 96));
    const client = new HttpClient(server.baseUrl, 'et');
    await client.signIn(user.upn, 'correct horse battery');
    for (const path of ['/profile-photo', '/_layouts/15/editprofile.aspx']) {
      const token = await client.csrfToken(path);
      // The file part never gets its closing boundary, as when a connection drops while sending.
      const body =
        `--XYZ\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${token}\r\n` +
        '--XYZ\r\nContent-Disposition: form-data; name="photo"; filename="a.png"\r\nContent-Type: image/png\r\n\r\nabc';
      const response = await fetch(`${server.baseUrl}${path}`, {
        method: 'POST',
        headers: {
          cookie: client.cookieHeader,
          'accept-language': 'et',
          accept: 'text/html',
          'content-type': 'multipart/form-data; boundary=XYZ',
        },
        body,
        redirect: 'manual',
      });
      expect(response.status, path).toBe(400);
      expect(pageMessage(await response.text()), path).toBe(translator('et')('photo.error.incomplete'));
    }
    expect((await getMailPhoto(context.services.database.db, user.id))?.etag).toBe(before.etag);
  });

  it('says so on "Upload picture" in the sites as well', async () => {
    const user = await makeUser(context.services, { hasMailbox: false });
    const client = new HttpClient(server.baseUrl, 'en');
    await client.signIn(user.upn, 'correct horse battery');
    const token = await client.csrfToken('/_layouts/15/editprofile.aspx');
    const empty = await client.upload('/_layouts/15/editprofile.aspx', token, Buffer.alloc(0), 'me.png', 'image/png');
    expect(empty.status).toBe(400);
    expect(pageMessage(empty.body)).toBe(translator('en')('photo.error.emptyFile'));
  });
});
