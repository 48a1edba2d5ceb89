import sharp from 'sharp';
import { beforeAll, expect, it } from 'vitest';
import { createApp } from '../src/directory/apps.js';
import { createSession } from '../src/directory/credentials.js';
import type { GraphScope } from '../src/directory/scopes.js';
import { tenantId } from '../src/directory/settings.js';
import type { DirectoryUser } from '../src/directory/users.js';
import type { App } from '../src/app.js';
import { SESSION_COOKIE } from '../src/http/auth.js';
import type { Services } from '../src/services.js';
import { pictureTimestampValue } from '../src/sites/library.js';
import { getSiteProfile } from '../src/sites/profiles.js';
import { parseCall } from '../src/sites/rest-call.js';
import { formDigestFor } from '../src/sites/rest-api.js';
import { appToken, bearer, userToken } from './support/apps.js';
import { closeTo, giveMailPhoto, makeUser, meanColour, solidJpeg } from './support/factories.js';
import { describeEachDialect, useTestApp } from './support/services.js';

// SharePoint's PeopleManager REST API: shapes in odata=verbose / minimalmetadata / nometadata,
// SetMyProfilePicture for users with and without a mailbox, and the library files.

const GREEN: [number, number, number] = [30, 160, 70];
const RED: [number, number, number] = [200, 40, 40];
const VERBOSE = { accept: 'application/json;odata=verbose' };
const NOMETADATA = { accept: 'application/json;odata=nometadata' };
const claim = (upn: string) => `i:0#.f|membership|${upn}`;
const alias = (upn: string) => `@v=${encodeURIComponent(`'${claim(upn)}'`)}`;

describeEachDialect('SharePoint REST', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  let jane: DirectoryUser;
  let janeToken: string;
  beforeAll(async () => {
    ({ services, app } = context);
    jane = await makeUser(services);
    janeToken = await userToken(services, jane);
    await giveMailPhoto(services, jane, await solidJpeg(GREEN));
    await services.sync.sync(jane, 'admin');
  });

  const get = (path: string, token: string | undefined, headers: Record<string, string> = {}) =>
    app.inject({ url: `/_api/SP.UserProfiles.PeopleManager/${path}`, headers: { ...bearer(token), ...headers } });
  const property = (body: { UserProfileProperties: Array<{ Key: string; Value: string }> }, key: string) =>
    body.UserProfileProperties.find((p) => p.Key === key)?.Value;

  it('GetMyProperties in nometadata: PersonProperties with the SPS-Picture* properties', async () => {
    const response = await get('GetMyProperties', janeToken, NOMETADATA);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/json;odata=nometadata;charset=utf-8');
    const body = response.json();
    const profile = (await getSiteProfile(services.database.db, jane.id))!;
    const stem = jane.upn.replace(/[@.]/g, '_');
    const pictureUrl = `http://localhost:8080/User%20Photos/Profile%20Pictures/${stem}_MThumb.jpg?t=${profile.pictureTimestamp}`;
    expect(body).toMatchObject({
      AccountName: claim(jane.upn),
      DisplayName: jane.displayName,
      Email: jane.upn,
      PictureUrl: pictureUrl,
      DirectReports: [],
      IsFollowed: false,
      UserUrl: expect.stringContaining('person.aspx?accountname=i%3A0%23.f%7Cmembership%7C'),
    });
    expect(property(body, 'PictureURL')).toBe(pictureUrl);
    // UserUrl opens the person's profile page (which asks a visitor without a session to sign in).
    const userUrl = new URL(body.UserUrl as string);
    const profilePage = await app.inject({ url: userUrl.pathname + userUrl.search });
    expect(profilePage.statusCode).toBe(303);
    expect(profilePage.headers.location).toBe(`/signin?next=${encodeURIComponent(userUrl.pathname + userUrl.search)}`);
    expect(property(body, 'SPS-PicturePlaceholderState')).toBe('0');
    expect(property(body, 'SPS-PictureExchangeSyncState')).toBe('1');
    // Whole seconds since 0001-01-01, as SharePoint Online keeps it.
    expect(property(body, 'SPS-PictureTimestamp')).toBe(pictureTimestampValue(profile.pictureTimestamp!));
    expect(property(body, 'SPS-PictureTimestamp')).toMatch(/^63\d{9}$/);
    expect(body.UserProfileProperties[0]).toEqual({ Key: 'UserProfile_GUID', Value: jane.id, ValueType: 'Edm.String' });

    // The picture it names is served from the library.
    const file = await app.inject({
      url: new URL(pictureUrl).pathname + new URL(pictureUrl).search,
      headers: bearer(janeToken),
    });
    expect(file.statusCode).toBe(200);
    expect((await sharp(file.rawPayload).metadata()).width).toBe(72);
    expect(closeTo(await meanColour(file.rawPayload), GREEN)).toBe(true);
  });

  it('GetPropertiesFor and GetUserProfilePropertyFor in verbose, minimalmetadata and nometadata', async () => {
    const viewer = await makeUser(services);
    const token = await userToken(services, viewer);
    const verbose = await get(`GetPropertiesFor(accountName=@v)?${alias(jane.upn)}`, token, VERBOSE);
    expect(verbose.statusCode).toBe(200);
    const d = verbose.json().d;
    expect(d.__metadata).toEqual({
      id: 'http://localhost:8080/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor',
      uri: 'http://localhost:8080/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor',
      type: 'SP.UserProfiles.PersonProperties',
    });
    expect(d.AccountName).toBe(claim(jane.upn));
    expect(d.DirectReports).toEqual({ __metadata: { type: 'Collection(Edm.String)' }, results: [] });
    expect(d.UserProfileProperties.results).toContainEqual({
      __metadata: { type: 'SP.KeyValue' },
      Key: 'SPS-PicturePlaceholderState',
      Value: '0',
      ValueType: 'Edm.String',
    });

    const minimal = (
      await get(`GetPropertiesFor(accountName=@v)?${alias(jane.upn)}`, token, { accept: 'application/json' })
    ).json();
    expect(minimal['odata.type']).toBe('SP.UserProfiles.PersonProperties');
    expect(minimal.AccountName).toBe(claim(jane.upn));
    // The account inline, and a plain UPN, work as well.
    const inline = await get(`GetPropertiesFor(accountName='${encodeURIComponent(jane.upn)}')`, token, NOMETADATA);
    expect(inline.json().AccountName).toBe(claim(jane.upn));

    const call = `GetUserProfilePropertyFor(accountName=@v,propertyName='PictureURL')?${alias(jane.upn)}`;
    const picture = (await get(call, token, NOMETADATA)).json();
    expect(picture).toEqual({ value: expect.stringContaining('_MThumb.jpg?t=') });
    expect((await get(call, token, VERBOSE)).json()).toEqual({ d: { GetUserProfilePropertyFor: picture.value } });
    const state = `GetUserProfilePropertyFor(accountName=@v,propertyName='SPS-PictureExchangeSyncState')?${alias(jane.upn)}`;
    expect((await get(state, token, NOMETADATA)).json()).toEqual({ value: '1' });
  });

  it('errors in SharePoint’s shapes: 401, 400, 403, 404', async () => {
    const cases: Array<[string, string | undefined, number]> = [
      ['GetMyProperties', undefined, 401],
      ['GetMyProperties', 'pst_wrong', 401],
      [`GetPropertiesFor(accountName=@v)?${alias('nobody@contoso.com')}`, janeToken, 404],
      ['GetPropertiesFor(accountName=@v)', janeToken, 400],
      [`GetPropertiesFor(accountName=@v)?@v=${encodeURIComponent("'not an account'")}`, janeToken, 400],
      ['GetSomethingElse', janeToken, 400],
      ['GetMyProperties', await appToken(services, ['ProfilePhoto.Read.All']), 403],
      [`GetPropertiesFor(accountName=@v)?${alias(jane.upn)}`, await userToken(services, jane, ['User.Read']), 200],
      [`GetPropertiesFor(accountName=@v)?${alias(jane.upn)}`, await appToken(services, ['ProfilePhoto.Read.All']), 200],
      [`GetPropertiesFor(accountName=@v)?${alias(jane.upn)}`, await appToken(services, ['User.Read']), 403],
    ];
    for (const [path, token, status] of cases) {
      const verbose = await get(path, token, VERBOSE);
      expect(verbose.statusCode, path).toBe(status);
      if (status === 200) continue;
      expect(verbose.json()).toEqual({
        error: { code: expect.stringMatching(/^-?\d+, /), message: { lang: 'en-US', value: expect.any(String) } },
      });
      const plain = await get(path, token, NOMETADATA);
      expect(Object.keys(plain.json())).toEqual(['odata.error']);
    }
    expect(parseCall("GetUserProfilePropertyFor(accountName=@v,propertyName='It''s')").args.get('propertyname')).toBe(
      "'It''s'",
    );
  });

  it('SharePoint’s own delegated permissions: AllSites.Read shows colleagues in the sites, AllSites.Write also changes one’s own picture; Graph gives them nothing', async () => {
    const tenant = await tenantId(services.database.db);
    const lee = await makeUser(services, { hasMailbox: false });
    /** Lee's token by the password grant through the app `clientId`, for `scope`. */
    const passwordGrant = (clientId: string, scope: string) =>
      app.inject({
        method: 'POST',
        url: `/${tenant}/oauth2/v2.0/token`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'password',
          client_id: clientId,
          username: lee.upn,
          password: 'correct horse battery',
          scope,
        }).toString(),
      });
    /** Lee's token through an app registered with User.Read and `scope` (as apps built with PnPjs ask). */
    const tokenFor = async (scope: string, resource: string) => {
      const registered = await createApp(services.database.db, `PnP app ${scope}`, ['User.Read', scope as GraphScope], {
        publicClient: true,
      });
      const answer = await passwordGrant(registered.clientId, `${resource}${scope}`);
      expect(answer.statusCode, answer.body).toBe(200);
      return answer.json<{ access_token: string }>().access_token;
    };
    const sharePoint = 'https://contoso-my.sharepoint.com/';
    const reader = await tokenFor('AllSites.Read', sharePoint);
    const janes = await app.inject({
      url: `/_layouts/15/userphoto.aspx?size=S&accountname=${jane.upn}`,
      headers: bearer(reader),
    });
    expect(janes.statusCode).toBe(200);
    expect((await get(`GetPropertiesFor(accountName=@v)?${alias(jane.upn)}`, reader, NOMETADATA)).statusCode).toBe(200);
    const setMine = (token: string) =>
      app.inject({
        method: 'POST',
        url: '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture',
        headers: { ...bearer(token), ...VERBOSE },
        payload: Buffer.alloc(0),
      });
    const refused = await setMine(reader);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.message.value).toContain('AllSites.Write');
    const writer = await tokenFor('AllSites.Write', sharePoint);
    const picture = await sharp({ create: { width: 96, height: 96, channels: 3, background: '#c83228' } })
      .jpeg()
      .toBuffer();
    const set = await app.inject({
      method: 'POST',
      url: '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture',
      headers: { ...bearer(writer), ...VERBOSE },
      payload: picture,
    });
    expect(set.statusCode, set.body).toBe(200);
    // Graph has no such permission: asked for by name, invalid; Graph's .default leaves it out.
    const registered = await createApp(services.database.db, 'PnP app both', ['User.Read', 'AllSites.Read'], {
      publicClient: true,
    });
    const graphGrant = (scope: string) => passwordGrant(registered.clientId, scope);
    for (const scope of ['AllSites.Read', 'https://graph.microsoft.com/AllSites.Read']) {
      const refusedOnGraph = await graphGrant(scope);
      expect([scope, refusedOnGraph.json().error_codes]).toEqual([scope, [70011]]);
    }
    const graphDefault = await graphGrant('https://graph.microsoft.com/.default');
    expect(graphDefault.json().scope).not.toContain('AllSites');
    const onGraph = await app.inject({
      url: `/v1.0/users/${jane.upn}/photo/$value`,
      headers: bearer(graphDefault.json().access_token),
    });
    expect(onGraph.statusCode).toBe(403);
  });

  it('takes the PeopleManager’s calls by POST with an empty JSON body, as PnPjs sends some', async () => {
    const post = (path: string) =>
      app.inject({
        method: 'POST',
        url: `/_api/SP.UserProfiles.PeopleManager/${path}`,
        headers: { ...bearer(janeToken), 'content-type': 'application/json;odata=verbose', ...NOMETADATA },
      });
    const mine = await post('GetMyProperties');
    expect(mine.statusCode, mine.body).toBe(200);
    expect(mine.json().AccountName).toBe(claim(jane.upn));
    expect((await post(`GetPropertiesFor(accountName=@v)?${alias(jane.upn)}`)).statusCode).toBe(200);
    // The ProfileLoader's call, as PnPjs's profiles.userProfile sends it: POST with an empty JSON body.
    const loader = (token: string) =>
      app.inject({
        method: 'POST',
        url: '/_api/sp.userprofiles.profileloader.getprofileloader/getuserprofile',
        headers: { ...bearer(token), 'content-type': 'application/json', ...NOMETADATA },
      });
    const profile = await loader(janeToken);
    expect(profile.statusCode, profile.body).toBe(200);
    expect(profile.json()).toMatchObject({ AccountName: claim(jane.upn), PictureImportEnabled: true });
    // An address that does not exist: SharePoint's invalid expression, not a complaint about the empty body.
    const nothing = await app.inject({
      method: 'POST',
      url: '/_api/sp.userprofiles.profileloader.getprofileloader/getnothing',
      headers: { ...bearer(janeToken), 'content-type': 'application/json' },
    });
    expect(nothing.statusCode, nothing.body).toBe(400);
    expect(nothing.body).toContain('is not valid');
    expect(nothing.body).not.toContain('Body cannot be empty');
  });

  it('SetMyProfilePicture: the picture of a user without a mailbox; a mailbox user’s next sync replaces it', async () => {
    const lee = await makeUser(services, { hasMailbox: false });
    const leeToken = await userToken(services, lee);
    const upload = (token: string, payload: Buffer, headers: Record<string, string> = {}) =>
      app.inject({
        method: 'POST',
        url: '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture',
        headers: { ...bearer(token), 'content-type': 'application/json;odata=verbose', ...VERBOSE, ...headers },
        payload,
      });
    // A token that only reads (User.Read) may not change it, as on Graph; nothing changes.
    const readOnly = await upload(await userToken(services, lee, ['User.Read']), await solidJpeg(RED, 400));
    expect(readOnly.statusCode).toBe(403);
    expect(readOnly.json().error.message.value).toContain('User.ReadWrite');
    expect((await getSiteProfile(services.database.db, lee.id))?.placeholderState ?? 1).toBe(1);
    const done = await upload(leeToken, await solidJpeg(RED, 400));
    expect(done.statusCode).toBe(200);
    expect(done.json()).toEqual({ d: { SetMyProfilePicture: null } });
    const lees = (await get('GetMyProperties', leeToken, NOMETADATA)).json();
    expect(property(lees, 'SPS-PictureExchangeSyncState')).toBe('0');
    expect(property(lees, 'SPS-PicturePlaceholderState')).toBe('0');
    const file = await app.inject({ url: new URL(lees.PictureUrl).pathname, headers: bearer(leeToken) });
    expect(closeTo(await meanColour(file.rawPayload), RED)).toBe(true);

    expect((await upload(janeToken, await solidJpeg(RED, 400), NOMETADATA)).json()).toEqual({ 'odata.null': true });
    const before = await app.inject({
      url: `/_layouts/15/userphoto.aspx?size=M&accountname=${jane.upn}`,
      headers: bearer(leeToken),
    });
    expect(closeTo(await meanColour(before.rawPayload), RED)).toBe(true);
    expect((await services.sync.sync(jane, 'admin')).outcome).toBe('synced');
    const after = await app.inject({
      url: `/_layouts/15/userphoto.aspx?size=M&accountname=${jane.upn}`,
      headers: bearer(leeToken),
    });
    expect(closeTo(await meanColour(after.rawPayload), GREEN)).toBe(true);

    const tooLarge = await upload(leeToken, Buffer.alloc(5_000_001, 0xff));
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.json().error.message.value).toContain('5,000,000 bytes');
    const notImage = await upload(leeToken, Buffer.from('%PDF-1.4 not a picture'));
    expect(notImage.statusCode).toBe(400);
    expect(notImage.json().error.message.value).toBeTruthy();
    const stillRed = await app.inject({ url: new URL(lees.PictureUrl).pathname, headers: bearer(leeToken) });
    expect(closeTo(await meanColour(stillRed.rawPayload), RED)).toBe(true);
    expect(
      (await upload(await userToken(services, lee, ['ProfilePhoto.Read.All']), await solidJpeg(GREEN))).statusCode,
    ).toBe(403);
  });

  it('a browser session needs the form digest from /_api/contextinfo to upload', async () => {
    const lee = await makeUser(services, { hasMailbox: false });
    const session = await createSession(services.database.db, lee.id, 60_000);
    const cookie = `${SESSION_COOKIE}=${session}`;
    const picture = await solidJpeg(GREEN, 200);
    const upload = (headers: Record<string, string>) =>
      app.inject({
        method: 'POST',
        url: '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture',
        headers: { cookie, 'content-type': 'image/jpeg', ...headers },
        payload: picture,
      });
    expect((await upload({})).statusCode).toBe(403);
    expect((await upload({ 'x-requestdigest': '0xABC,Thu, 26 Nov 2026 00:00:00 GMT' })).statusCode).toBe(403);
    const info = await app.inject({ method: 'POST', url: '/_api/contextinfo', headers: { cookie, ...VERBOSE } });
    expect(info.statusCode).toBe(200);
    const digest = info.json().d.GetContextWebInformation.FormDigestValue as string;
    expect(info.json().d.GetContextWebInformation).toMatchObject({
      FormDigestTimeoutSeconds: 1800,
      WebFullUrl: 'http://localhost:8080',
    });
    expect(digest).toMatch(/^0x[0-9A-F]{64},\d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d -0000$/);
    // Tied to the session: another session's digest is refused.
    const other = await createSession(services.database.db, lee.id, 60_000);
    expect((await upload({ 'x-requestdigest': formDigestFor(other) })).statusCode).toBe(403);
    // Tied to its time: the time rewritten does not match the hash, and one older than
    // FormDigestTimeoutSeconds has timed out, as SharePoint says it.
    const [hash] = digest.split(',');
    expect((await upload({ 'x-requestdigest': `${hash},01 Dec 2099 00:00:00 -0000` })).statusCode).toBe(403);
    const old = await upload({ 'x-requestdigest': formDigestFor(session, new Date(Date.now() - 1801_000)) });
    expect(old.statusCode).toBe(403);
    expect(old.json().error.message.value).toContain('has timed out');
    const fresh = await upload({ 'x-requestdigest': formDigestFor(session, new Date(Date.now() - 1700_000)) });
    expect(fresh.statusCode).toBe(200);
    expect((await upload({ 'x-requestdigest': digest })).statusCode).toBe(200);
    expect((await get('GetMyProperties', undefined, { cookie, ...NOMETADATA })).json().PictureUrl).toContain(
      '_MThumb.jpg',
    );
  });
});
