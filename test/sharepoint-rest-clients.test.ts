import sharp from 'sharp';
import { beforeAll, expect, it } from 'vitest';
import { setUserEnabled } from '../src/directory/revocation.js';
import type { DirectoryUser } from '../src/directory/users.js';
import type { App } from '../src/app.js';
import type { Services } from '../src/services.js';
import { getRendition, getSiteProfile } from '../src/sites/profiles.js';
import { appToken, bearer, userToken } from './support/apps.js';
import { closeTo, giveMailPhoto, makeUser, meanColour, solidJpeg } from './support/factories.js';
import { describeEachDialect, useTestApp } from './support/services.js';

// SharePoint REST as its clients call it: PnPjs's lower-case, positional forms, the web's users,
// the "User Photos" library as files, SetSingleValueProfileProperty, and SharePoint's error
// envelope for every address it does not have.

const GREEN: [number, number, number] = [30, 160, 70];
const BLUE: [number, number, number] = [40, 60, 200];
const NOMETADATA = { accept: 'application/json;odata=nometadata' };
const VERBOSE = { accept: 'application/json;odata=verbose' };
const claim = (upn: string) => `i:0#.f|membership|${upn}`;
const alias = (upn: string) => `@v=${encodeURIComponent(`'${claim(upn)}'`)}`;
const quoted = (text: string) => `'${encodeURIComponent(text)}'`;
const LIBRARY = '/User Photos/Profile Pictures';

describeEachDialect('SharePoint REST as clients call it', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  let jane: DirectoryUser;
  let kalle: DirectoryUser;
  let janeToken: string;
  let writer: string;
  let reader: string;
  beforeAll(async () => {
    ({ services, app } = context);
    jane = await makeUser(services);
    kalle = await makeUser(services, { hasMailbox: false });
    janeToken = await userToken(services, jane);
    writer = await appToken(services, ['ProfilePhoto.ReadWrite.All']);
    reader = await appToken(services, ['ProfilePhoto.Read.All']);
    await giveMailPhoto(services, jane, await solidJpeg(GREEN));
    await services.sync.sync(jane, 'admin');
  });

  const get = (url: string, token: string | undefined, headers: Record<string, string> = NOMETADATA) =>
    app.inject({ url, headers: { ...bearer(token), ...headers } });
  const post = (url: string, token: string | undefined, body: Buffer | string, type = 'application/json') =>
    app.inject({
      method: 'POST',
      url,
      headers: { ...bearer(token), ...NOMETADATA, 'content-type': type },
      payload: body,
    });
  const stem = (user: DirectoryUser) => user.upn.replace(/[@.]/g, '_');

  it('matches paths, method names and argument names in any case; arguments by position or by name', async () => {
    const forms = [
      '/_api/sp.userprofiles.peoplemanager/getmyproperties',
      '/_API/SP.USERPROFILES.PEOPLEMANAGER/GETMYPROPERTIES',
      `/_api/sp.userprofiles.peoplemanager/getpropertiesfor(@v)?${alias(jane.upn)}`,
      `/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)?${alias(jane.upn)}`,
      `/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(ACCOUNTNAME=@V)?${alias(jane.upn)}`,
      `/_api/sp.userprofiles.peoplemanager/getpropertiesfor(${quoted(claim(jane.upn))})`,
    ];
    for (const url of forms) {
      const response = await get(url, janeToken);
      expect(response.statusCode, url).toBe(200);
      expect(response.json().AccountName, url).toBe(claim(jane.upn));
    }
    // PnPjs's getUserProfilePropertyFor, and the same positionally.
    for (const call of [
      "getuserprofilepropertyfor(accountname=@v, propertyname='PictureURL')",
      "getuserprofilepropertyfor(@v,'pictureurl')",
    ]) {
      const response = await get(`/_api/sp.userprofiles.peoplemanager/${call}?${alias(jane.upn)}`, janeToken);
      expect(response.statusCode, call).toBe(200);
      expect(response.json().value).toMatch(/_MThumb\.jpg\?t=\d+$/);
    }
    // Too many arguments, a name the method does not have, or both forms mixed: SharePoint's 400.
    for (const call of [
      "getpropertiesfor(@v,'x')",
      'getpropertiesfor(login=@v)',
      "getuserprofilepropertyfor(accountname=@v,'PictureURL')",
    ]) {
      const response = await get(`/_api/sp.userprofiles.peoplemanager/${call}?${alias(jane.upn)}`, janeToken);
      expect(response.statusCode, call).toBe(400);
      expect(response.json()['odata.error'].code).toBe('-1, Microsoft.SharePoint.Client.InvalidClientQueryException');
    }
  });

  it('userphoto.aspx reads AccountName= and Size= in any case; the library path in any case', async () => {
    const response = await get(
      `/_layouts/15/userphoto.aspx?AccountName=${encodeURIComponent(jane.upn)}&Size=S`,
      janeToken,
      {},
    );
    expect(response.statusCode).toBe(200);
    expect((await sharp(response.rawPayload).metadata()).width).toBe(48);
    const file = await get(`/user%20photos/profile%20pictures/${stem(jane).toUpperCase()}_lthumb.JPG`, janeToken, {});
    expect(file.statusCode).toBe(200);
    expect(closeTo(await meanColour(file.rawPayload), GREEN)).toBe(true);
  });

  it('/_api/web/currentuser, siteusers and ensureuser as SP.User', async () => {
    const me = await get('/_api/web/currentuser', janeToken);
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({
      Id: expect.any(Number),
      LoginName: claim(jane.upn),
      Title: jane.displayName,
      Email: jane.upn,
      PrincipalType: 1,
      IsSiteAdmin: false,
      UserPrincipalName: jane.upn,
    });
    const verbose = await get('/_api/Web/CurrentUser', janeToken, VERBOSE);
    expect(verbose.json().d).toMatchObject({ __metadata: { type: 'SP.User' }, LoginName: claim(jane.upn) });
    // An app has no current user.
    expect((await get('/_api/web/currentuser', reader)).statusCode).toBe(403);

    const users = await get('/_api/web/siteusers', reader);
    expect(users.statusCode).toBe(200);
    const listed = users.json().value as Array<{ LoginName: string; Id: number }>;
    expect(listed.map((u) => u.LoginName)).toEqual(expect.arrayContaining([claim(jane.upn), claim(kalle.upn)]));
    expect(listed.find((u) => u.LoginName === claim(jane.upn))!.Id).toBe(me.json().Id);
    const verboseList = await get('/_api/web/siteusers', janeToken, VERBOSE);
    expect(verboseList.json().d.results[0].__metadata).toEqual({ type: 'SP.User' });
    expect((await get('/_api/web/siteusers', await appToken(services, ['User.Read']))).statusCode).toBe(403);

    const ensured = await post('/_api/web/ensureuser', janeToken, JSON.stringify({ logonName: claim(kalle.upn) }));
    expect(ensured.statusCode).toBe(200);
    expect(ensured.json()).toMatchObject({ LoginName: claim(kalle.upn), Email: '' });
    const nobody = await post('/_api/web/ensureuser', janeToken, JSON.stringify({ logonName: 'nobody@contoso.com' }));
    expect(nobody.statusCode).toBe(404);
    expect(nobody.json()['odata.error'].message.value).toContain('nobody@contoso.com');
    expect((await post('/_api/web/ensureuser', janeToken, 'not json')).statusCode).toBe(400);

    // A token that reads only its own user (User.Read) sees itself, not everyone's addresses.
    const ownOnly = await userToken(services, jane, ['User.Read']);
    const refused = await get('/_api/web/siteusers', ownOnly);
    expect(refused.statusCode).toBe(403);
    expect(refused.json()['odata.error'].message.value).toContain('ProfilePhoto.Read.All');
    expect((await get(`/_api/web/siteusers/getbyemail(${quoted(jane.upn)})`, ownOnly)).statusCode).toBe(200);
    expect((await get(`/_api/web/siteusers/getbyemail(${quoted(kalle.upn)})`, ownOnly)).statusCode).toBe(403);
    expect(
      (await post('/_api/web/ensureuser', ownOnly, JSON.stringify({ logonName: claim(jane.upn) }))).statusCode,
    ).toBe(200);
    expect(
      (await post('/_api/web/ensureuser', ownOnly, JSON.stringify({ logonName: claim(kalle.upn) }))).statusCode,
    ).toBe(403);
  });

  it('the library as files: list, $value, and Files/add by an app with write permission makes the site picture', async () => {
    const folder = `/_api/web/GetFolderByServerRelativeUrl(${quoted(LIBRARY)})`;
    const files = await get(`${folder}/Files`, reader);
    expect(files.statusCode).toBe(200);
    const names = (files.json().value as Array<{ Name: string; ServerRelativeUrl: string }>).map((f) => f.Name);
    expect(names).toEqual(expect.arrayContaining(['S', 'M', 'L'].map((size) => `${stem(jane)}_${size}Thumb.jpg`)));
    // Lower case, and the library's path without the leading slash.
    expect(
      (await get(`/_api/web/getfolderbyserverrelativeurl(${quoted('user photos/profile pictures')})/files`, reader))
        .statusCode,
    ).toBe(200);
    const elsewhere = await get(`/_api/web/GetFolderByServerRelativeUrl(${quoted('/Shared Documents')})/Files`, reader);
    expect(elsewhere.statusCode).toBe(404);
    expect(elsewhere.json()['odata.error'].code).toBe('-2147024894, System.IO.FileNotFoundException');

    const fileUrl = (user: DirectoryUser, size: string) =>
      `/_api/web/GetFileByServerRelativeUrl(${quoted(`${LIBRARY}/${stem(user)}_${size}Thumb.jpg`)})`;
    const value = await get(`${fileUrl(jane, 'L')}/$value`, reader, {});
    expect(value.statusCode).toBe(200);
    expect(value.headers['content-type']).toBe('image/jpeg');
    expect(closeTo(await meanColour(value.rawPayload), GREEN)).toBe(true);
    const metadata = await get(fileUrl(jane, 'M'), reader);
    expect(metadata.json()).toMatchObject({ Name: `${stem(jane)}_MThumb.jpg`, Exists: true });
    expect((await get(`${fileUrl(kalle, 'L')}/$value`, reader)).statusCode).toBe(404);
    expect((await get(`${fileUrl(jane, 'L')}/$value`, await appToken(services, ['User.Read']))).statusCode).toBe(403);

    // Kalle has no mailbox: an app uploads his picture as "Upload picture" would.
    const blue = await solidJpeg(BLUE, 500);
    const add = `${folder}/Files/add(url=${quoted(`${stem(kalle)}_LThumb.jpg`)},overwrite=true)`;
    expect((await post(add, reader, blue, 'image/jpeg')).statusCode).toBe(403);
    expect((await post(add, janeToken, blue, 'image/jpeg')).statusCode).toBe(403);
    const added = await post(add, writer, blue, 'image/jpeg');
    expect(added.statusCode, added.body).toBe(200);
    expect(added.json()).toMatchObject({ Name: `${stem(kalle)}_LThumb.jpg` });
    const profile = (await getSiteProfile(services.database.db, kalle.id))!;
    expect(profile).toMatchObject({ placeholderState: 0, pictureSource: 'upload' });
    const small = await get(`${fileUrl(kalle, 'S')}/$value`, reader, {});
    expect((await sharp(small.rawPayload).metadata()).width).toBe(48);
    expect(closeTo(await meanColour(small.rawPayload), BLUE)).toBe(true);
    // Without overwrite, an existing file stays.
    const again = `${folder}/Files/add(url=${quoted(`${stem(kalle)}_LThumb.jpg`)},overwrite=false)`;
    expect((await post(again, writer, blue, 'image/jpeg')).statusCode).toBe(400);

    // A name like a picture's that is nobody's is a file like any other, as SharePoint keeps it:
    // nobody's picture changes, until a profile's PictureURL is pointed at it.
    const green = await solidJpeg(GREEN, 500);
    for (const size of ['L', 'M']) {
      const named = `${folder}/Files/add(url='kalle_contoso_com_1a2b3c4d_${size}Thumb.jpg',overwrite=true)`;
      expect((await post(named, writer, green, 'image/jpeg')).statusCode).toBe(200);
    }
    const stored = await get(
      `/_api/web/GetFileByServerRelativeUrl(${quoted(`${LIBRARY}/kalle_contoso_com_1a2b3c4d_LThumb.jpg`)})/$value`,
      reader,
      {},
    );
    expect(stored.statusCode).toBe(200);
    expect(stored.rawPayload.equals(green)).toBe(true);
    expect(closeTo(await meanColour((await get(`${fileUrl(kalle, 'S')}/$value`, reader, {})).rawPayload), BLUE)).toBe(
      true,
    );
    const setPictureUrl = await post(
      '/_api/SP.UserProfiles.PeopleManager/SetSingleValueProfileProperty',
      writer,
      JSON.stringify({
        accountName: claim(kalle.upn),
        propertyName: 'PictureURL',
        propertyValue: `${services.config.publicUrl}/User%20Photos/Profile%20Pictures/kalle_contoso_com_1a2b3c4d_MThumb.jpg`,
      }),
    );
    expect(setPictureUrl.statusCode, setPictureUrl.body).toBe(200);
    const pointed = await get(`${fileUrl(kalle, 'S')}/$value`, reader, {});
    expect(closeTo(await meanColour(pointed.rawPayload), GREEN)).toBe(true);
    // A name with characters no file may have is refused.
    const bad = `${folder}/Files/add(url=${quoted('a:b_LThumb.jpg')},overwrite=true)`;
    expect((await post(bad, writer, blue, 'image/jpeg')).statusCode).toBe(400);
  });

  it('a user’s file through GetFileByServerRelativeUrl is shown to whom the library address shows it', async () => {
    // The same picture at the library's own address and through the REST API: a token that may
    // see only its own user's picture, and anyone looking at a disabled account, get nothing here either.
    const lee = await makeUser(services);
    await giveMailPhoto(services, lee, await solidJpeg(BLUE));
    await services.sync.sync(lee, 'admin');
    const ownOnly = await userToken(services, jane, ['User.Read']);
    const file = `${LIBRARY}/${stem(lee)}_MThumb.jpg`;
    const rest = (tail: string) => `/_api/web/GetFileByServerRelativeUrl(${quoted(file)})${tail}`;
    const direct = `${encodeURI(file)}`;

    expect((await get(direct, ownOnly, {})).statusCode).toBe(403);
    for (const tail of ['/$value', '']) expect((await get(rest(tail), ownOnly)).statusCode, tail).toBe(403);

    await setUserEnabled(services.database.db, lee, false);
    expect((await get(direct, janeToken, {})).statusCode).toBe(404);
    for (const tail of ['/$value', '']) {
      const response = await get(rest(tail), reader, tail === '' ? NOMETADATA : {});
      expect(response.statusCode, tail).toBe(404);
      expect(closeTo(await meanColour(response.rawPayload).catch(() => [0, 0, 0]), BLUE), tail).toBe(false);
    }
  });

  it('the folder’s Files list what GetFileByServerRelativeUrl serves: files added under any name, no hidden picture', async () => {
    // A client that lists the library and then reads each file (or looks for a name before adding
    // it) must see the same library through both addresses.
    const folder = `/_api/web/GetFolderByServerRelativeUrl(${quoted(LIBRARY)})`;
    const listed = async () =>
      ((await get(`${folder}/Files`, reader)).json().value as Array<{ Name: string }>).map((f) => f.Name);
    const fileUrl = (name: string) => `/_api/web/GetFileByServerRelativeUrl(${quoted(`${LIBRARY}/${name}`)})`;

    const added = await post(
      `${folder}/Files/add(url='listed-notes.txt',overwrite=true)`,
      writer,
      'hello',
      'text/plain',
    );
    expect(added.statusCode, added.body).toBe(200);
    expect((await get(fileUrl('listed-notes.txt'), reader)).statusCode).toBe(200);
    expect(await listed()).toContain('listed-notes.txt');
    const recycled = await post(`${fileUrl('listed-notes.txt')}/recycle()`, writer, '');
    expect(recycled.statusCode, recycled.body).toBe(200);
    expect(await listed()).not.toContain('listed-notes.txt');
    // PnPjs's file.delete(): a POST to the file with X-HTTP-Method DELETE, answered 200 without a body.
    expect(
      (await post(`${folder}/Files/add(url='deleted-notes.txt',overwrite=true)`, writer, 'x', 'text/plain')).statusCode,
    ).toBe(200);
    const deleted = await app.inject({
      method: 'POST',
      url: fileUrl('deleted-notes.txt'),
      headers: { ...bearer(writer), 'x-http-method': 'DELETE', 'if-match': '*' },
    });
    expect([deleted.statusCode, deleted.body]).toEqual([200, '']);
    expect(await listed()).not.toContain('deleted-notes.txt');
    const again = await app.inject({
      method: 'POST',
      url: fileUrl('deleted-notes.txt'),
      headers: { ...bearer(writer), 'x-http-method': 'DELETE' },
    });
    expect(again.statusCode).toBe(404);

    // A disabled account's pictures are not served at their addresses, so they are not listed either.
    const hidden = await makeUser(services);
    await giveMailPhoto(services, hidden, await solidJpeg(BLUE));
    await services.sync.sync(hidden, 'admin');
    const hiddenFile = `${stem(hidden)}_MThumb.jpg`;
    expect(await listed()).toContain(hiddenFile);
    await setUserEnabled(services.database.db, hidden, false);
    expect((await get(fileUrl(hiddenFile), reader)).statusCode).toBe(404);
    expect(await listed()).not.toContain(hiddenFile);
  });

  it('Files/add takes a file’s name or its address in this folder, never another path or a name of dots alone', async () => {
    const folder = `/_api/web/GetFolderByServerRelativeUrl(${quoted(LIBRARY)})`;
    const listed = async () =>
      ((await get(`${folder}/Files`, reader)).json().value as Array<{ Name: string }>).map((f) => f.Name);
    const owner = await makeUser(services);
    await giveMailPhoto(services, owner, await solidJpeg(BLUE));
    await services.sync.sync(owner, 'admin');
    const before = await getRendition(services.database.db, owner.id, 'L');
    const add = (url: string, body: Buffer | string = 'hello') =>
      post(`${folder}/Files/add(url=${quoted(url)},overwrite=true)`, writer, body, 'text/plain');
    // Read by its last part alone, this replaced the owner's picture.
    const elsewhere = await add(`x/${stem(owner)}_LThumb.jpg`, await solidJpeg(GREEN));
    expect(elsewhere.statusCode, elsewhere.body).toBe(400);
    expect(elsewhere.json()['odata.error'].message.value).toContain(`is not a file of ${LIBRARY}`);
    expect((await getRendition(services.database.db, owner.id, 'L'))?.etag).toBe(before?.etag);
    for (const dots of ['.', '..', '...']) {
      const refused = await add(dots);
      expect(refused.statusCode, dots).toBe(400);
      expect(refused.json()['odata.error'].message.value).toContain('not dots alone');
    }
    expect(await listed()).not.toContain('..');
    // Its address in this folder is its name.
    const byAddress = await add(`${LIBRARY}/addressed-notes.txt`);
    expect(byAddress.statusCode, byAddress.body).toBe(200);
    expect(byAddress.json().Name).toBe('addressed-notes.txt');
    expect(await listed()).toContain('addressed-notes.txt');
  });

  it('a file added under a picture’s name before its user existed is listed only while it is served', async () => {
    const folder = `/_api/web/GetFolderByServerRelativeUrl(${quoted(LIBRARY)})`;
    const listed = async () =>
      ((await get(`${folder}/Files`, reader)).json().value as Array<{ Name: string }>).map((f) => f.Name);
    const upn = `newhire${process.pid}.${dialect}@contoso.com`;
    const name = `${upn.replace(/[@.]/g, '_')}_MThumb.jpg`;
    const fileUrl = `/_api/web/GetFileByServerRelativeUrl(${quoted(`${LIBRARY}/${name}`)})`;
    // Nobody's yet: kept as any other file, served and listed.
    const added = await post(
      `${folder}/Files/add(url=${quoted(name)},overwrite=true)`,
      writer,
      await solidJpeg(GREEN),
      'image/jpeg',
    );
    expect(added.statusCode, added.body).toBe(200);
    expect((await get(fileUrl, reader)).statusCode).toBe(200);
    expect(await listed()).toContain(name);
    // The account is made: the name is now its picture's, which it does not have yet.
    const newHire = await makeUser(services, { upn });
    expect((await get(fileUrl, reader)).statusCode).toBe(404);
    expect(await listed()).not.toContain(name);
    // Once synced, the name is listed once, as the picture served there.
    await giveMailPhoto(services, newHire, await solidJpeg(BLUE));
    await services.sync.sync(newHire, 'admin');
    expect((await get(fileUrl, reader)).statusCode).toBe(200);
    expect((await listed()).filter((n) => n.toLowerCase() === name.toLowerCase())).toHaveLength(1);
  });

  it('a segment with arguments the route does not read is refused, not answered as the bare segment', async () => {
    // PnPjs v4's folder.files.getByUrl(name) asks for Files('name'): answering the whole folder
    // (or the file itself for $value('…')) gives the client a collection where it expects one file.
    const pnp = (value: string) => encodeURIComponent(value.replace(/'/g, "''"));
    const folder = `/_api/web/getFolderByServerRelativePath(decodedUrl='${pnp(LIBRARY)}')`;
    expect((await get(`${folder}/files`, reader)).statusCode).toBe(200);
    const one = await get(`${folder}/files('${pnp(`${stem(jane)}_MThumb.jpg`)}')`, reader);
    expect(one.statusCode, one.body.slice(0, 200)).toBe(400);
    expect(one.json()['odata.error'].code).toBe('-1, Microsoft.SharePoint.Client.InvalidClientQueryException');
    const file = `/_api/web/getFileByServerRelativePath(decodedUrl='${pnp(`${LIBRARY}/${stem(jane)}_MThumb.jpg`)}')`;
    expect((await get(`${file}/$value`, reader, {})).statusCode).toBe(200);
    expect((await get(`${file}/$value('x')`, reader, {})).statusCode).toBe(400);
    const added = await post(
      `${folder}/files('other.txt')/AddUsingPath(decodedurl='${pnp('args.txt')}',Overwrite=true)`,
      writer,
      'hello',
      'text/plain',
    );
    expect(added.statusCode, added.body).toBe(400);
  });

  it('SetSingleValueProfileProperty: administrators and apps with write permission, picture properties only', async () => {
    const url = '/_api/SP.UserProfiles.PeopleManager/SetSingleValueProfileProperty';
    const body = (propertyName: string, propertyValue: string, user = jane) =>
      JSON.stringify({ accountName: claim(user.upn), propertyName, propertyValue });
    const own = await post(url, janeToken, body('SPS-PictureExchangeSyncState', '0'));
    expect(own.statusCode).toBe(403);
    // Her own profile too: the answer says what she may use instead, not "others' profiles".
    expect(own.json()['odata.error'].message.value).toContain('to change your own picture, use SetMyProfilePicture');
    expect((await post(url, reader, body('SPS-PictureExchangeSyncState', '0'))).statusCode).toBe(403);
    const admin = await makeUser(services, { isAdmin: true });
    const adminToken = await userToken(services, admin, ['ProfilePhoto.ReadWrite.All']);
    expect((await post(url, adminToken, body('SPS-PictureExchangeSyncState', '0'))).statusCode).toBe(200);
    expect((await getSiteProfile(services.database.db, jane.id))!.exchangeSyncState).toBe(0);
    expect((await post(url, writer, body('SPS-PictureExchangeSyncState', '1'))).statusCode).toBe(200);
    expect((await getSiteProfile(services.database.db, jane.id))!.exchangeSyncState).toBe(1);
    // Another property, or a picture elsewhere: refused, and nothing changes.
    const about = await post(url, writer, body('AboutMe', 'hello'));
    expect(about.statusCode).toBe(400);
    expect(about.json()['odata.error'].message.value).toMatch(/picture properties/);
    // Each refusal says why: a picture elsewhere, no such file, another person's file.
    const refused = async (propertyName: string, propertyValue: string) => {
      const response = await post(url, writer, body(propertyName, propertyValue));
      expect(response.statusCode, response.body).toBe(400);
      return response.json()['odata.error'].message.value as string;
    };
    const library = `${services.config.publicUrl}/User%20Photos/Profile%20Pictures`;
    expect(await refused('PictureURL', 'https://elsewhere.example/x.jpg')).toMatch(/only files of .* as pictures/);
    expect(await refused('PictureURL', `${library}/nobody_contoso_com_MThumb.jpg`)).toBe(
      'There is no file nobody_contoso_com_MThumb.jpg in /User Photos/Profile Pictures: upload the picture there (Files/add) first.',
    );
    expect(await refused('PictureURL', `${library}/${stem(kalle)}_LThumb.jpg`)).toBe(
      `PictureURL names the M file of a picture (…_MThumb.jpg), not ${stem(kalle)}_LThumb.jpg.`,
    );
    expect(await refused('PictureURL', `${library}/sub/${stem(kalle)}_MThumb.jpg`)).toMatch(
      /only files of .* as pictures/,
    );
    expect(await refused('PictureURL', `${library}/${stem(kalle)}_MThumb.jpg`)).toMatch(
      new RegExp(`^${stem(kalle)}_MThumb\\.jpg in /User Photos/Profile Pictures is another person's picture`),
    );
    const janeBefore = (await getSiteProfile(services.database.db, jane.id))!;
    expect(janeBefore.placeholderState).toBe(0);
    expect(await getRendition(services.database.db, jane.id, 'L')).toBeDefined();
    // An empty PictureURL (or a placeholder state of 1) shows the placeholder; the picture's files
    // stay in the library, as in SharePoint, and a placeholder state of 0 (or PictureURL naming
    // the M file) shows them again, under a new version.
    // Seen by a colleague (Jane's own L would be her action, and sync).
    const colleague = await userToken(services, kalle);
    const photo = `/_layouts/15/userphoto.aspx?size=M&accountname=${jane.upn}`;
    const file = `/User%20Photos/Profile%20Pictures/${stem(jane)}_MThumb.jpg`;
    const pictureM = await get(photo, colleague, {});
    expect(pictureM.statusCode).toBe(200);
    const placeholderOf = async () => {
      const placeholder = await get(photo, colleague, {});
      expect(placeholder.statusCode).toBe(200);
      expect(placeholder.headers.etag).not.toBe(pictureM.headers.etag);
      expect((await get(file, colleague, {})).headers.etag).toBe(pictureM.headers.etag);
      expect((await getSiteProfile(services.database.db, jane.id))!.placeholderState).toBe(1);
    };
    const shownAgain = async (since: number | null) => {
      const profile = (await getSiteProfile(services.database.db, jane.id))!;
      expect(profile.placeholderState).toBe(0);
      expect(profile.pictureTimestamp).toBeGreaterThan(since ?? 0);
      const again = await get(photo, colleague, {});
      expect([again.statusCode, again.headers.etag]).toEqual([200, pictureM.headers.etag]);
      return profile.pictureTimestamp;
    };
    let version = janeBefore.pictureTimestamp;
    expect((await post(url, writer, body('PictureURL', ''))).statusCode).toBe(200);
    await placeholderOf();
    expect((await post(url, writer, body('SPS-PicturePlaceholderState', '0'))).statusCode).toBe(200);
    version = await shownAgain(version);
    expect((await post(url, writer, body('SPS-PicturePlaceholderState', '1'))).statusCode).toBe(200);
    await placeholderOf();
    expect((await post(url, writer, body('PictureURL', `${library}/${stem(jane)}_MThumb.jpg`))).statusCode).toBe(200);
    await shownAgain(version);
    // Someone with no picture files has nothing to show.
    const bare = await makeUser(services);
    const none = await post(url, writer, body('SPS-PicturePlaceholderState', '0', bare));
    expect(none.statusCode, none.body).toBe(400);
    expect(none.json()['odata.error'].message.value).toBe(
      `${bare.upn} has no picture to show: upload one (Files/add or SetMyProfilePicture) before setting SPS-PicturePlaceholderState to 0.`,
    );
  });

  it('every address /_api does not have gets SharePoint’s error envelope, whatever the body’s size', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024, 1);
    const cases: Array<[string, string, Buffer | undefined]> = [
      ['GET', '/_api/web/lists', undefined],
      ['GET', '/_api/nothing/here', undefined],
      ['GET', '/_api/web/GetFolderByServerRelativeUrl', undefined],
      ['POST', '/_api/web/lists', big],
      ['POST', '/_api/nothing', big],
      ['POST', '/_API/Nothing', Buffer.from('{}')],
    ];
    for (const [method, url, payload] of cases) {
      const response = await app.inject({
        method: method as 'GET' | 'POST',
        url,
        headers: { ...bearer(janeToken), ...NOMETADATA, 'content-type': 'application/octet-stream' },
        ...(payload ? { payload } : {}),
      });
      expect(response.statusCode, `${method} ${url}`).toBe(400);
      expect(response.json()['odata.error'], `${method} ${url}`).toMatchObject({
        code: '-1, Microsoft.SharePoint.Client.InvalidClientQueryException',
        message: { lang: 'en-US', value: expect.any(String) },
      });
    }
  });
});
