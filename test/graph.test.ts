import sharp from 'sharp';
import { beforeAll, expect, it } from 'vitest';
import type { DirectoryUser } from '../src/directory/users.js';
import type { App } from '../src/app.js';
import { getMailPhoto } from '../src/mail/photo-store.js';
import type { Services } from '../src/services.js';
import { appToken, bearer, userToken } from './support/apps.js';
import { closeTo, giveMailPhoto, makeUser, meanColour, solidJpeg } from './support/factories.js';
import { describeEachDialect, useTestApp } from './support/services.js';

// Contract tests: every status code and JSON shape of the Graph endpoints, through app.inject.

const TEAL: [number, number, number] = [20, 150, 150];
const GRAPH_ENVELOPE = {
  error: {
    code: expect.any(String),
    message: expect.any(String),
    innerError: {
      date: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/),
      'request-id': expect.stringMatching(/^[0-9a-f-]{36}$/),
      'client-request-id': expect.any(String),
    },
  },
};

describeEachDialect('Graph contract', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  let jane: DirectoryUser;
  let janeToken: string;
  beforeAll(async () => {
    ({ services, app } = context);
    jane = await makeUser(services);
    janeToken = await userToken(services, jane);
    await giveMailPhoto(services, jane, await solidJpeg(TEAL, 500));
  });

  const get = (url: string, token?: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url, headers: { ...bearer(token), ...headers } });

  it('GET /me and /users/{upn|id}: the basic user resource', async () => {
    const me = await get('/v1.0/me', janeToken);
    expect(me.statusCode).toBe(200);
    expect(me.json()).toEqual({
      '@odata.context': 'http://localhost:8080/v1.0/$metadata#users/$entity',
      businessPhones: [],
      displayName: jane.displayName,
      givenName: null,
      jobTitle: null,
      mail: jane.upn,
      mobilePhone: null,
      officeLocation: null,
      preferredLanguage: null,
      surname: null,
      userPrincipalName: jane.upn,
      id: jane.id,
    });
    expect(me.headers['request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect((await get(`/v1.0/users/${jane.id}`, janeToken)).json()).toEqual(me.json());
    expect((await get(`/v1.0/users/${jane.id.toUpperCase()}`, janeToken)).json()).toEqual(me.json());
    expect((await get(`/v1.0/users/${encodeURIComponent(jane.upn)}`, janeToken)).json()).toEqual(me.json());
  });

  it('photo metadata, $value with ETag and 304, and the sizes up to the stored master', async () => {
    const photo = (await getMailPhoto(services.database.db, jane.id))!;
    const meta = await get('/v1.0/me/photo', janeToken);
    expect(meta.statusCode).toBe(200);
    expect(meta.json()).toEqual({
      '@odata.context': `http://localhost:8080/v1.0/$metadata#users('${jane.id}')/photo/$entity`,
      '@odata.mediaContentType': 'image/jpeg',
      '@odata.mediaEtag': `"${photo.etag}"`,
      id: '500x500',
      width: 500,
      height: 500,
    });

    const value = await get('/v1.0/me/photo/$value', janeToken);
    expect(value.statusCode).toBe(200);
    expect(value.headers['content-type']).toBe('image/jpeg');
    expect(value.headers.etag).toBe(`"${photo.etag}"`);
    expect((await sharp(value.rawPayload).metadata()).width).toBe(500);
    expect(closeTo(await meanColour(value.rawPayload), TEAL)).toBe(true);
    const escaped = await get('/v1.0/me/photo/%24value', janeToken);
    expect([escaped.statusCode, escaped.headers.etag]).toEqual([200, `"${photo.etag}"`]);
    const again = await get('/v1.0/me/photo/$value', janeToken, { 'if-none-match': `"${photo.etag}"` });
    expect(again.statusCode).toBe(304);
    expect(again.rawPayload.length).toBe(0);

    const sizes = await get(`/v1.0/users/${jane.upn}/photos`, janeToken);
    expect(sizes.statusCode).toBe(200);
    expect(sizes.json().value.map((s: { id: string }) => s.id)).toEqual([
      '48x48',
      '64x64',
      '96x96',
      '120x120',
      '240x240',
      '360x360',
      '432x432',
    ]);
    const small = await get('/v1.0/me/photos/96x96/$value', janeToken);
    expect(small.statusCode).toBe(200);
    expect((await sharp(small.rawPayload).metadata()).width).toBe(96);
    expect(small.headers.etag).toBe(`"${photo.etag}-96"`);
    expect((await get('/v1.0/me/photos/96x96', janeToken)).json()).toMatchObject({ id: '96x96', width: 96 });

    for (const size of ['648x648', '504x504', '50x50', '96x97', 'large']) {
      const missing = await get(`/v1.0/me/photos/${size}/$value`, janeToken);
      expect(missing.statusCode).toBe(404);
      expect(missing.json()).toEqual(GRAPH_ENVELOPE);
      expect(missing.json().error.code).toBe('ImageNotFound');
    }
  });

  it('PUT and PATCH set the photo (200); DELETE removes it (204); then 404 ImageNotFound', async () => {
    const lee = await makeUser(services);
    const token = await userToken(services, lee);
    const noPhoto = await get('/v1.0/me/photo/$value', token);
    expect(noPhoto.statusCode).toBe(404);
    expect(noPhoto.json()).toEqual(GRAPH_ENVELOPE);
    expect(noPhoto.json().error.code).toBe('ImageNotFound');
    expect((await get('/v1.0/me/photo', token)).statusCode).toBe(404);
    expect((await get('/v1.0/me/photos', token)).json().value).toEqual([]);

    for (const method of ['PUT', 'PATCH'] as const) {
      const png = await sharp({ create: { width: 100, height: 80, channels: 3, background: '#204080' } })
        .png()
        .toBuffer();
      const put = await app.inject({
        method,
        url: '/v1.0/me/photo/$value',
        headers: { ...bearer(token), 'content-type': 'image/png' },
        payload: png,
      });
      expect(put.statusCode).toBe(200);
      expect(put.rawPayload.length).toBe(0);
      expect((await get('/v1.0/me/photo', token)).json()).toMatchObject({ id: '80x80', width: 80, height: 80 });
    }
    const removed = await app.inject({ method: 'DELETE', url: '/v1.0/me/photo', headers: bearer(token) });
    expect(removed.statusCode).toBe(204);
    expect((await get('/v1.0/me/photo/$value', token)).statusCode).toBe(404);
    const twice = await app.inject({ method: 'DELETE', url: '/v1.0/me/photo', headers: bearer(token) });
    expect(twice.statusCode).toBe(404);
    expect(twice.json().error.code).toBe('ImageNotFound');
  });

  it('refuses bad uploads with 400 or 413 in the Graph envelope, and changes nothing', async () => {
    const before = await getMailPhoto(services.database.db, jane.id);
    const put = (payload: Buffer, type: string) =>
      app.inject({
        method: 'PUT',
        url: '/v1.0/me/photo/$value',
        headers: { ...bearer(janeToken), 'content-type': type },
        payload,
      });
    const noisy = await sharp(
      Buffer.alloc(400 * 400 * 3, 0).map(() => Math.floor(Math.random() * 256)),
      {
        raw: { width: 400, height: 400, channels: 3 },
      },
    )
      .jpeg()
      .toBuffer();
    const cases: Array<[Buffer, string, number, string]> = [
      [Buffer.from('this is not a picture'), 'image/jpeg', 400, 'ErrorInvalidImage'],
      [noisy.subarray(0, Math.floor(noisy.length / 2)), 'image/jpeg', 400, 'ErrorInvalidImage'],
      [await solidJpeg(TEAL, 64), 'text/plain', 400, 'ErrorInvalidImage'],
      [Buffer.alloc(0), 'image/jpeg', 400, 'ErrorInvalidImage'],
      [Buffer.alloc(4 * 1024 * 1024 + 1, 0xff), 'image/jpeg', 413, 'RequestEntityTooLarge'],
    ];
    for (const [payload, type, status, code] of cases) {
      const response = await put(payload, type);
      expect(response.statusCode, `${type} ${payload.length}`).toBe(status);
      expect(response.json()).toEqual(GRAPH_ENVELOPE);
      expect(response.json().error.code).toBe(code);
    }
    expect(await getMailPhoto(services.database.db, jane.id)).toEqual(before);
  });

  it('answers unknown users, users without a mailbox, /me for apps and unknown paths in the envelope', async () => {
    const app2 = await appToken(services, ['ProfilePhoto.ReadWrite.All']);
    const lee = await makeUser(services, { hasMailbox: false });
    const expectations: Array<[string, string | undefined, number, string]> = [
      ['/v1.0/users/nobody@contoso.com/photo', app2, 404, 'Request_ResourceNotFound'],
      ['/v1.0/users/00000000-0000-0000-0000-000000000000', app2, 404, 'Request_ResourceNotFound'],
      [`/v1.0/users/${lee.upn}/photo/$value`, app2, 404, 'ImageNotFound'],
      ['/v1.0/me/photo', app2, 400, 'BadRequest'],
      ['/v1.0/me/calendar', janeToken, 400, 'BadRequest'],
      ['/v1.0/me/photo', undefined, 401, 'InvalidAuthenticationToken'],
      ['/v1.0/me/photo', 'pst_not-a-token', 401, 'InvalidAuthenticationToken'],
    ];
    for (const [url, token, status, code] of expectations) {
      const response = await get(url, token, { 'client-request-id': 'abc-123' });
      expect(response.statusCode, url).toBe(status);
      expect(response.json(), url).toEqual(GRAPH_ENVELOPE);
      expect(response.json().error.code, url).toBe(code);
      expect(response.json().error.innerError['client-request-id']).toBe('abc-123');
      expect(response.json().error.innerError['request-id']).toBe(response.headers['request-id']);
    }
    // A session cookie is for pages: Graph ignores it.
    expect((await get('/v1.0/me', undefined, { cookie: 'photosync_session=anything' })).statusCode).toBe(401);
  });

  it('lists every Graph, SharePoint and token route in /openapi.json with a summary', async () => {
    const document = (await get('/openapi.json')).json();
    const paths = document.paths as Record<string, Record<string, { summary?: string; tags?: string[] }>>;
    for (const path of [
      '/v1.0/me',
      '/v1.0/me/photo',
      '/v1.0/me/photo/$value',
      '/v1.0/users/{id}/photo/$value',
      '/v1.0/users/{id}/photos/{size}/$value',
      '/_api/SP.UserProfiles.PeopleManager/{call}',
      '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture',
      '/{tenant}/oauth2/v2.0/token',
    ]) {
      expect(paths[path], path).toBeDefined();
      for (const operation of Object.values(paths[path]!)) expect(operation.summary, path).toBeTruthy();
    }
    expect(Object.keys(paths['/v1.0/me/photo/$value']!).sort()).toEqual(['delete', 'get', 'patch', 'put']);
  });
});
