import sharp from 'sharp';
import { beforeAll, expect, it, vi } from 'vitest';
import { createSession } from '../src/directory/credentials.js';
import { setDirectoryPhoto } from '../src/directory/photo.js';
import type { DirectoryUser } from '../src/directory/users.js';
import { tenantId } from '../src/directory/settings.js';
import type { App } from '../src/app.js';
import { SESSION_COOKIE } from '../src/http/auth.js';
import type { Services } from '../src/services.js';
import { renditionSpec } from '../src/sites/library.js';
import { getSiteProfile } from '../src/sites/profiles.js';
import { listAttempts } from '../src/sync/history.js';
import { listSyncStatus } from '../src/sync/status.js';
import {
  closeTo,
  giveMailPhoto,
  giveSitePicture,
  makeUser,
  meanColour,
  solidJpeg,
  tokenFor,
} from './support/factories.js';
import { describeEachDialect, openTestServices, useTestApp } from './support/services.js';

const GREEN: [number, number, number] = [20, 170, 60];
const ORANGE: [number, number, number] = [240, 140, 20];

describeEachDialect('sites over HTTP', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  beforeAll(() => ({ services, app } = context));

  const photo = (query: string, token?: string, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'GET',
      url: `/_layouts/15/userphoto.aspx?${query}`,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    });

  async function twoColleagues(): Promise<{ jane: DirectoryUser; janeToken: string; viewerToken: string }> {
    const jane = await makeUser(services);
    const viewer = await makeUser(services);
    return { jane, janeToken: await tokenFor(services, jane), viewerToken: await tokenFor(services, viewer) };
  }

  it('refuses anonymous requests and bad tokens with 401, SharePoint’s challenge and a readable message', async () => {
    const { jane } = await twoColleagues();
    const tenant = await tenantId(services.database.db);
    const library = (token: string) =>
      app.inject({
        url: '/User%20Photos/Profile%20Pictures/x_MThumb.jpg',
        headers: { authorization: `Bearer ${token}` },
      });
    for (const [response, invalid] of [
      [await photo(`size=M&accountname=${jane.upn}`), false],
      [await photo(`accountname=${jane.upn}`, 'pst_wrong'), true],
      [await library('pst_wrong'), true],
    ] as const) {
      expect(response.statusCode).toBe(401);
      expect(response.json()).toEqual({ error: { code: 'unauthorized', message: expect.stringMatching(/sign in/i) } });
      // As the REST API's 401 (and SharePoint Online's on these addresses): the realm is the tenant.
      expect(response.headers['www-authenticate']).toBe(
        `Bearer realm="${tenant}",client_id="00000003-0000-0ff1-ce00-000000000000",` +
          `authorization_uri="http://localhost:8080/${tenant}/oauth2/v2.0/authorize"` +
          (invalid ? ',error="invalid_token"' : ''),
      );
    }
  });

  it('serves the placeholder until the user acts, and a colleague looking never triggers a sync', async () => {
    const { jane, viewerToken } = await twoColleagues();
    await giveMailPhoto(services, jane, await solidJpeg(GREEN));

    for (const size of ['S', 'M', 'L']) {
      const response = await photo(`size=${size}&accountname=${jane.upn}`, viewerToken);
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe('image/jpeg');
      expect(response.headers['x-photosync-sync']).toBeUndefined();
      expect(closeTo(await meanColour(response.rawPayload), GREEN, 40)).toBe(false);
    }
    await services.sync.settle();
    expect(await listAttempts(services.database.db, jane.id)).toEqual([]);
    expect(await getSiteProfile(services.database.db, jane.id)).toBeUndefined();
  });

  it('syncs when the user asks for their own L photo, and the colleague sees it at once', async () => {
    const { jane, janeToken, viewerToken } = await twoColleagues();
    await giveMailPhoto(services, jane, await solidJpeg(GREEN));

    const own = await photo(`size=L&accountname=${jane.upn}`, janeToken);
    expect(own.statusCode).toBe(200);
    expect(own.headers['x-photosync-sync']).toBe('synced');
    expect((await sharp(own.rawPayload).metadata()).width).toBe(300);
    expect(closeTo(await meanColour(own.rawPayload), GREEN)).toBe(true);

    const seen = await photo(`size=M&accountname=${jane.upn}`, viewerToken);
    expect((await sharp(seen.rawPayload).metadata()).width).toBe(72);
    expect(closeTo(await meanColour(seen.rawPayload), GREEN)).toBe(true);

    const again = await photo(`size=L&accountname=${jane.upn}`, janeToken);
    expect(again.headers['x-photosync-sync']).toBe('unchanged');
    // An in-step check is answered before it is recorded.
    await services.sync.settle();
    const history = await listAttempts(services.database.db, jane.id);
    expect(history.map((h) => [h.trigger, h.outcome])).toEqual([
      ['photo_request', 'unchanged'],
      ['photo_request', 'synced'],
    ]);
  });

  it('gives every one of many simultaneous own-L requests after a change the new picture', async () => {
    const { jane, janeToken } = await twoColleagues();
    await giveMailPhoto(services, jane, await solidJpeg(GREEN));
    expect((await photo(`size=L&accountname=${jane.upn}`, janeToken)).headers['x-photosync-sync']).toBe('synced');
    await giveMailPhoto(services, jane, await solidJpeg(ORANGE));

    // One syncs; the others wait for the user's lock and find the sites in step when they get it.
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => photo(`size=L&accountname=${jane.upn}`, janeToken)),
    );
    const outcomes = answers.map((a) => a.headers['x-photosync-sync']);
    expect(outcomes.filter((o) => o === 'synced')).toHaveLength(1);
    const newEtag = answers[outcomes.indexOf('synced')]!.headers.etag;
    for (const [i, answer] of answers.entries()) {
      expect(answer.headers.etag, `${i}: ${String(outcomes[i])}`).toBe(newEtag);
      expect(closeTo(await meanColour(answer.rawPayload), ORANGE), `${i}: ${String(outcomes[i])}`).toBe(true);
    }
  });

  it('never lets a browser keep the owner’s own L picture without asking, even at its versioned URL', async () => {
    const { jane, janeToken, viewerToken } = await twoColleagues();
    await giveMailPhoto(services, jane, await solidJpeg(GREEN));
    expect((await photo(`size=L&accountname=${jane.upn}`, janeToken)).headers['x-photosync-sync']).toBe('synced');
    // The URL a page shows the picture at: versioned with its timestamp.
    const t = (await getSiteProfile(services.database.db, jane.id))!.pictureTimestamp;
    const versioned = `size=L&accountname=${jane.upn}&t=${t}`;
    expect((await photo(versioned, viewerToken)).headers['cache-control']).toBe('private, max-age=31536000, immutable');
    const own = await photo(versioned, janeToken);
    expect(own.headers['cache-control']).toBe('private, no-cache');

    // A new mail photo, and the profile page still built with the old URL: asked again, it syncs.
    await giveMailPhoto(services, jane, await solidJpeg(ORANGE));
    const again = await photo(versioned, janeToken, { 'if-none-match': own.headers.etag as string });
    expect(again.statusCode).toBe(200);
    expect(again.headers['x-photosync-sync']).toBe('synced');
    expect(closeTo(await meanColour(again.rawPayload), ORANGE)).toBe(true);
  });

  it('only the L size of your own photo counts as the action', async () => {
    const { jane, janeToken } = await twoColleagues();
    await giveMailPhoto(services, jane, await solidJpeg(GREEN));
    const small = await photo(`size=S&accountname=${jane.upn}`, janeToken);
    expect(small.headers['x-photosync-sync']).toBeUndefined();
    // Nothing gathered to be written later either.
    await services.sync.settle();
    expect(await listAttempts(services.database.db, jane.id)).toEqual([]);
  });

  it('accepts a signed-in session cookie as well as a bearer token', async () => {
    const { jane } = await twoColleagues();
    await giveMailPhoto(services, jane, await solidJpeg(ORANGE));
    const session = await createSession(services.database.db, jane.id, 60_000);
    const response = await photo(`size=L&accountname=${jane.upn}`, undefined, {
      cookie: `${SESSION_COOKIE}=${session}`,
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['x-photosync-sync']).toBe('synced');
  });

  it('answers If-None-Match with 304 and a new photo with a new strong ETag', async () => {
    const { jane, janeToken, viewerToken } = await twoColleagues();
    await giveMailPhoto(services, jane, await solidJpeg(GREEN));
    await photo(`size=L&accountname=${jane.upn}`, janeToken);

    const first = await photo(`size=M&accountname=${jane.upn}`, viewerToken);
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"[0-9A-F]{16}"$/);
    expect(first.headers['cache-control']).toBe('private, no-cache');

    const cached = await photo(`size=M&accountname=${jane.upn}`, viewerToken, { 'if-none-match': etag });
    expect(cached.statusCode).toBe(304);
    expect(cached.rawPayload.length).toBe(0);

    await giveMailPhoto(services, jane, await solidJpeg(ORANGE));
    await photo(`size=L&accountname=${jane.upn}`, janeToken);
    const fresh = await photo(`size=M&accountname=${jane.upn}`, viewerToken, { 'if-none-match': etag });
    expect(fresh.statusCode).toBe(200);
    expect(fresh.headers.etag).not.toBe(etag);
    expect(closeTo(await meanColour(fresh.rawPayload), ORANGE)).toBe(true);
  });

  it('understands the claim form, username= and url=, and serves the library files with versioned URLs', async () => {
    const { jane, janeToken, viewerToken } = await twoColleagues();
    await giveMailPhoto(services, jane, await solidJpeg(GREEN));
    await photo(`size=L&accountname=${jane.upn}`, janeToken);
    const profile = await getSiteProfile(services.database.db, jane.id);
    const stem = jane.upn.replace(/[@.]/g, '_');

    const claim = await photo(`size=M&accountname=${encodeURIComponent(`i:0#.f|membership|${jane.upn}`)}`, viewerToken);
    const byUsername = await photo(`size=M&username=${jane.upn.toUpperCase()}`, viewerToken);
    const pictureUrl = `/User%20Photos/Profile%20Pictures/${stem}_MThumb.jpg?t=${profile?.pictureTimestamp}`;
    const byUrl = await photo(`size=M&url=${encodeURIComponent(pictureUrl)}`, viewerToken);
    for (const response of [claim, byUsername, byUrl]) {
      expect(response.statusCode).toBe(200);
      expect(response.headers.etag).toBe(claim.headers.etag);
    }

    const file = await app.inject({ url: pictureUrl, headers: { authorization: `Bearer ${viewerToken}` } });
    expect(file.statusCode).toBe(200);
    expect(file.headers.etag).toBe(claim.headers.etag);
    expect(file.headers['cache-control']).toBe('private, max-age=31536000, immutable');

    const stale = await app.inject({
      url: `/User%20Photos/Profile%20Pictures/${stem}_LThumb.jpg?t=1`,
      headers: { authorization: `Bearer ${viewerToken}` },
    });
    expect(stale.statusCode).toBe(200);
    expect(stale.headers['cache-control']).toBe('private, no-cache');

    const missing = await app.inject({
      url: '/User%20Photos/Profile%20Pictures/nobody_contoso_com_MThumb.jpg',
      headers: { authorization: `Bearer ${viewerToken}` },
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.message).toMatch(/nobody_contoso_com_MThumb\.jpg/);
  });

  it('gives users whose UPNs map to the same file name files of their own', async () => {
    const dotted = await makeUser(services, { upn: `a.b.${process.pid}@contoso.com` });
    const underscored = await makeUser(services, { upn: `a_b_${process.pid}@contoso.com` });
    const viewerToken = await tokenFor(services, await makeUser(services));
    for (const [user, colour] of [
      [dotted, GREEN],
      [underscored, ORANGE],
    ] as const) {
      await giveMailPhoto(services, user, await solidJpeg(colour));
      await services.sync.sync(user, 'admin');
    }
    const urls = (
      await listSyncStatus(
        services.database.db,
        'http://localhost',
        renditionSpec(services.syncSettings().renditionSizes),
      )
    )
      .filter((s) => s.upn === dotted.upn || s.upn === underscored.upn)
      .map((s) => [s.upn, s.siteProperties.PictureURL.replace('http://localhost', '')] as const);
    const [[, first], [, second]] = urls.sort() as [readonly [string, string], readonly [string, string]];
    expect(first).not.toBe(second);
    for (const [upn, url] of urls) {
      const colour = upn === dotted.upn ? GREEN : ORANGE;
      const file = await app.inject({ url, headers: { authorization: `Bearer ${viewerToken}` } });
      expect(closeTo(await meanColour(file.rawPayload), colour), url).toBe(true);
      const viaUrl = await photo(`size=M&url=${encodeURIComponent(url)}`, viewerToken);
      expect(closeTo(await meanColour(viaUrl.rawPayload), colour), url).toBe(true);
    }
  });

  it('serves the placeholder for a user with only a directory photo, and for unknown users', async () => {
    const { jane, janeToken } = await twoColleagues();
    await setDirectoryPhoto(services.database.db, jane.id, await solidJpeg(ORANGE, 96));
    const own = await photo(`size=L&accountname=${jane.upn}`, janeToken);
    expect(own.headers['x-photosync-sync']).toBe('no_photo');
    const unknown = await photo('size=L&accountname=nobody@contoso.com', janeToken);
    expect(own.headers.etag).toBe(unknown.headers.etag);
    expect(own.headers.etag).toMatch(/^"P/);
    expect(closeTo(await meanColour(own.rawPayload), ORANGE, 40)).toBe(false);
    expect((await sharp(own.rawPayload).metadata()).width).toBe(300);
  });

  it("serves the placeholder at SharePoint's own address too, as a 96 px PNG that names nobody", async () => {
    const url = '/_layouts/15/images/PersonPlaceholder.96x96x32.png';
    const first = await app.inject({ url });
    expect(first.statusCode).toBe(200);
    expect(first.headers['content-type']).toBe('image/png');
    const meta = await sharp(first.rawPayload).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 96, 96]);
    const again = await app.inject({ url, headers: { 'if-none-match': String(first.headers.etag) } });
    expect(again.statusCode).toBe(304);
  });

  it('serves the new picture when a sync replaces the one it had started to send', async () => {
    const { jane, viewerToken } = await twoColleagues();
    // The syncs run in another instance on the same store, so this one has neither picture's
    // bytes in memory (a publish keeps its own) and reads the file its row names.
    const other = await openTestServices(context.store);
    try {
      await giveMailPhoto(services, jane, await solidJpeg(GREEN));
      expect((await other.sync.sync(jane, 'admin')).outcome).toBe('synced');

      // Between reading the rendition's row and its file, let a whole sync run: the file the row
      // named is deleted by the time it is read.
      const realGet = services.blobs.get;
      let armed = true;
      services.blobs.get = async (key) => {
        if (armed && key.startsWith('sites/')) {
          armed = false;
          await giveMailPhoto(services, jane, await solidJpeg(ORANGE));
          expect((await other.sync.sync(jane, 'admin')).outcome).toBe('synced');
          // The old files go after the sync has answered.
          await other.sync.settle();
        }
        return realGet(key);
      };
      try {
        const response = await photo(`size=M&accountname=${jane.upn}`, viewerToken);
        expect(armed).toBe(false);
        expect(response.statusCode).toBe(200);
        expect(closeTo(await meanColour(response.rawPayload), ORANGE)).toBe(true);
      } finally {
        services.blobs.get = realGet;
      }
    } finally {
      await other.close();
    }
  });

  it('serves a new picture from the memory of the instance that published it, reading no file', async () => {
    const { jane, janeToken, viewerToken } = await twoColleagues();
    await giveMailPhoto(services, jane, await solidJpeg(GREEN));
    const read = vi.spyOn(services.blobs, 'get');
    try {
      const own = await photo(`size=L&accountname=${jane.upn}`, janeToken);
      expect(own.headers['x-photosync-sync']).toBe('synced');
      const seen = await photo(`size=M&accountname=${jane.upn}`, viewerToken);
      expect([own.statusCode, seen.statusCode]).toEqual([200, 200]);
      expect(closeTo(await meanColour(seen.rawPayload), GREEN)).toBe(true);
      // The mail photo is read for the render; no rendition is read back.
      expect(read.mock.calls.map(([key]) => key).filter((key) => key.startsWith('sites/'))).toEqual([]);
    } finally {
      read.mockRestore();
    }
  });

  it('gives the owner the placeholder, not the picture their own L request just removed', async () => {
    // A picture uploaded in the sites by a user with a mailbox but no mail photo: their own L
    // request syncs, which removes it (the mail service has nothing). The answer must be what the
    // sites now show, whether the browser names the old picture's ETag or a colleague's view has
    // put its bytes in memory.
    for (const viaCache of [false, true]) {
      const { jane, janeToken, viewerToken } = await twoColleagues();
      await giveSitePicture(services, jane, await solidJpeg(ORANGE));
      const uploaded = await photo(`size=L&accountname=${jane.upn}`, viewerToken);
      expect(closeTo(await meanColour(uploaded.rawPayload), ORANGE)).toBe(true);

      const headers: Record<string, string> = viaCache ? {} : { 'if-none-match': String(uploaded.headers.etag) };
      const own = await photo(`size=L&accountname=${jane.upn}`, janeToken, headers);
      expect(own.headers['x-photosync-sync'], `viaCache ${viaCache}`).toBe('removed');
      expect(own.statusCode, `viaCache ${viaCache}`).toBe(200);
      expect(own.headers.etag, `viaCache ${viaCache}`).not.toBe(uploaded.headers.etag);
      expect(closeTo(await meanColour(own.rawPayload), ORANGE, 40), `viaCache ${viaCache}`).toBe(false);
    }
  });

  it('gives the owner their L picture at the new size when their own request re-rendered it', async () => {
    // New rendition sizes: the same mail photo is synced again, so the ETag synced is the one read
    // with the subject; the picture the browser has is the old size all the same.
    const { jane, janeToken } = await twoColleagues();
    await giveMailPhoto(services, jane, await solidJpeg(GREEN));
    const first = await photo(`size=L&accountname=${jane.upn}`, janeToken);
    expect((await sharp(first.rawPayload).metadata()).width).toBe(300);
    const admin = await makeUser(services, { isAdmin: true });
    const sizes = services.syncSettings().renditionSizes;
    await services.settings.update({ renditionSizes: { ...sizes, L: 200 } }, admin);
    try {
      const own = await photo(`size=L&accountname=${jane.upn}`, janeToken, {
        'if-none-match': String(first.headers.etag),
      });
      expect(own.headers['x-photosync-sync']).toBe('synced');
      expect(own.statusCode).toBe(200);
      expect((await sharp(own.rawPayload).metadata()).width).toBe(200);
    } finally {
      await services.settings.update({ renditionSizes: sizes }, admin);
    }
  });

  it('rejects malformed queries with 400 and a message, never a 500', async () => {
    const { janeToken } = await twoColleagues();
    const cases = [
      'size=XL&accountname=jane@contoso.com',
      'size=M',
      'size=M&accountname=not-an-account',
      `size=M&accountname=${'a'.repeat(400)}@contoso.com`,
      'size=M&url=%E0%A4%A',
    ];
    for (const query of cases) {
      const response = await photo(query, janeToken);
      expect(response.statusCode, query).toBe(400);
      expect(response.json().error.message, query).toMatch(/\w+/);
    }
    for (const url of ['/%zz', '/User%20Photos/Profile%20Pictures/%E0%A4%A_MThumb.jpg']) {
      const response = await app.inject({ url, headers: { authorization: `Bearer ${janeToken}` } });
      expect(response.statusCode, url).toBe(400);
      expect(response.json(), url).toEqual({ error: { code: 'invalid_request', message: expect.any(String) } });
    }
  });
});
