import sharp from 'sharp';
import { beforeAll, expect, it } from 'vitest';
import { getDirectoryPhoto } from '../src/directory/photo.js';
import type { DirectoryUser } from '../src/directory/users.js';
import type { App } from '../src/app.js';
import type { Services } from '../src/services.js';
import { getSiteProfile } from '../src/sites/profiles.js';
import { appToken, bearer, userToken } from './support/apps.js';
import { closeTo, giveMailPhoto, makeUser, meanColour, solidJpeg } from './support/factories.js';
import { describeEachDialect, useTestApp } from './support/services.js';

// Graph as its clients call it: /users with paging and query options, the user resource's
// default properties and $select, JSON batching, CORS, WWW-Authenticate, both photo size paths,
// Graph's scope names and rules for photo writes, and the directory photo of a user without a mailbox.

const TEAL: [number, number, number] = [20, 150, 140];
const ORANGE: [number, number, number] = [230, 130, 30];

describeEachDialect('Graph as clients call it', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  let jane: DirectoryUser;
  let lee: DirectoryUser;
  let janeToken: string;
  let reader: string;
  beforeAll(async () => {
    ({ services, app } = context);
    jane = await makeUser(services, { displayName: 'Jane Doe' });
    lee = await makeUser(services, { hasMailbox: false, displayName: 'Lee Gu' });
    for (let i = 0; i < 5; i++) await makeUser(services, { upn: `page${i}@paging.test`, displayName: `Page ${i}` });
    janeToken = await userToken(services, jane);
    reader = await appToken(services, ['User.ReadBasic.All']);
    await giveMailPhoto(services, jane, await solidJpeg(TEAL, 300));
  });

  const get = (url: string, token: string | undefined, headers: Record<string, string> = {}) =>
    app.inject({ url, headers: { ...bearer(token), ...headers } });

  it('the user resource: the documented default properties, null where unknown; $select honoured', async () => {
    const me = await get('/v1.0/me', janeToken);
    expect(me.statusCode).toBe(200);
    const { '@odata.context': context, ...properties } = me.json();
    expect(context).toMatch(/\/v1\.0\/\$metadata#users\/\$entity$/);
    expect(properties).toEqual({
      businessPhones: [],
      displayName: 'Jane Doe',
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
    const selected = await get(`/v1.0/users/${lee.upn}?$select=displayName,MAIL,accountEnabled`, reader);
    expect(selected.statusCode).toBe(200);
    const { '@odata.context': _, ...chosen } = selected.json();
    expect(chosen).toEqual({ displayName: 'Lee Gu', mail: null, accountEnabled: true });
    const unknown = await get('/v1.0/me?$select=shoeSize', janeToken);
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.message).toContain("'shoeSize'");
  });

  it('/users: pages with $top and @odata.nextLink, $select, $filter with eq and startswith', async () => {
    const seen: string[] = [];
    let url: string | undefined =
      '/v1.0/users?$top=2&$select=userPrincipalName,id&$filter=startswith(userPrincipalName,%27page%27)';
    while (url) {
      const response = await get(url, reader);
      expect(response.statusCode, url).toBe(200);
      const body = response.json() as { value: Array<Record<string, unknown>>; '@odata.nextLink'?: string };
      expect(body.value.length).toBeLessThanOrEqual(2);
      for (const user of body.value) expect(Object.keys(user).sort()).toEqual(['id', 'userPrincipalName']);
      seen.push(...body.value.map((u) => u.userPrincipalName as string));
      const next = body['@odata.nextLink'];
      if (next) expect(next.startsWith('http://localhost:8080/v1.0/users?')).toBe(true);
      url = next && new URL(next).pathname + new URL(next).search;
    }
    expect(seen).toEqual([0, 1, 2, 3, 4].map((i) => `page${i}@paging.test`));

    const filters: Array<[string, string[]]> = [
      [`userPrincipalName eq '${jane.upn.toUpperCase()}'`, [jane.upn]],
      [`mail eq '${jane.upn}'`, [jane.upn]],
      [`mail eq '${lee.upn}'`, []],
      ["startswith(displayName,'lee')", [lee.upn]],
      ["displayName eq 'Page 3'", ['page3@paging.test']],
      ["displayName eq 'Page 3' or displayName eq 'Page 4'", ['page3@paging.test', 'page4@paging.test']],
      ["startswith(displayName,'Page') and userPrincipalName eq 'page1@paging.test'", ['page1@paging.test']],
      ["givenName eq 'Jane'", []],
      ["startswith(surname,'D')", []],
      ["startswith(displayName,'100%_')", []],
    ];
    for (const [filter, upns] of filters) {
      const response = await get(`/v1.0/users?$filter=${encodeURIComponent(filter)}`, reader);
      expect(response.statusCode, filter).toBe(200);
      expect(
        response.json().value.map((u: { userPrincipalName: string }) => u.userPrincipalName),
        filter,
      ).toEqual(upns);
    }
    for (const filter of ["jobTitle eq 'x'", "endswith(mail,'x')", "displayName ne 'x'", 'garbage', "(mail eq 'a')"]) {
      const response = await get(`/v1.0/users?$filter=${encodeURIComponent(filter)}`, reader);
      expect(response.statusCode, filter).toBe(400);
      expect(response.json().error.code).toBe('BadRequest');
    }
    for (const query of ['$top=0', '$top=1000', '$top=x', '$orderby=mail', '$search=x', '$skiptoken=%25%25']) {
      expect((await get(`/v1.0/users?${query}`, reader)).statusCode, query).toBe(400);
    }
    // Listing needs a scope that reads others.
    const ownOnly = await get('/v1.0/users', await userToken(services, jane, ['User.Read']));
    expect(ownOnly.statusCode).toBe(403);
    expect(ownOnly.json().error.code).toBe('Authorization_RequestDenied');
  });

  it('/users with $count=true: @odata.count on every page as an advanced query, in a batch too', async () => {
    const query = `$top=2&$select=id&$count=true&$filter=${encodeURIComponent("startswith(userPrincipalName,'page')")}`;
    // Without ConsistencyLevel: eventual, $count is refused as Graph refuses it.
    const plain = await get(`/v1.0/users?${query}`, reader);
    expect(plain.statusCode).toBe(400);
    expect(plain.json().error.code).toBe('BadRequest');
    const eventual = { consistencylevel: 'eventual' };
    const first = await get(`/v1.0/users?${query}`, reader, eventual);
    expect(first.statusCode).toBe(200);
    const body = first.json() as { '@odata.count': number; '@odata.nextLink': string; value: unknown[] };
    expect(body['@odata.count']).toBe(5);
    expect(body.value).toHaveLength(2);
    // The next link keeps the count: it is an advanced query as well, answered only with the header.
    const next = new URL(body['@odata.nextLink']);
    expect(next.searchParams.get('$count')).toBe('true');
    expect((await get(next.pathname + next.search, reader)).statusCode).toBe(400);
    const second = await get(next.pathname + next.search, reader, eventual);
    expect(second.json()['@odata.count']).toBe(5);
    for (const value of ['yes', '1']) {
      expect((await get(`/v1.0/users?$count=${value}`, reader, eventual)).statusCode, value).toBe(400);
    }
    expect((await get('/v1.0/users?$count=false', reader)).json()).not.toHaveProperty('@odata.count');

    // Inside a batch, with its headers, as Microsoft's own batching example lists users.
    const batch = await app.inject({
      method: 'POST',
      url: '/v1.0/$batch',
      headers: { ...bearer(reader), 'content-type': 'application/json' },
      payload: JSON.stringify({
        requests: [
          { id: 'page', method: 'GET', url: next.pathname.replace(/^\/v1\.0/, '') + next.search, headers: eventual },
          { id: 'plain', method: 'GET', url: `/users?${query}` },
        ],
      }),
    });
    expect(batch.statusCode).toBe(200);
    const [page, refused] = batch.json().responses as Array<{
      id: string;
      status: number;
      body: { value?: unknown[] };
    }>;
    expect(page).toMatchObject({ id: 'page', status: 200, body: { '@odata.count': 5 } });
    expect(page!.body.value).toHaveLength(2);
    expect(refused).toMatchObject({ id: 'plain', status: 400 });
  });

  it('$batch: up to 20 requests, dependsOn, binary bodies as base64 both ways', async () => {
    const batch = (token: string, requests: unknown[]) =>
      app.inject({
        method: 'POST',
        url: '/v1.0/$batch',
        headers: { ...bearer(token), 'content-type': 'application/json' },
        payload: JSON.stringify({ requests }),
      });
    const orange = await solidJpeg(ORANGE, 200);
    const writer = await userToken(services, jane, ['User.ReadWrite']);
    const response = await batch(writer, [
      { id: '1', method: 'GET', url: '/me?$select=displayName' },
      {
        id: '2',
        method: 'PUT',
        url: '/me/photo/$value',
        headers: { 'Content-Type': 'image/jpeg' },
        body: orange.toString('base64'),
      },
      { id: '3', method: 'GET', url: 'me/photos/48x48/$value', dependsOn: ['2'] },
      { id: '4', method: 'GET', url: '/users/nobody@contoso.com' },
      { id: '5', method: 'GET', url: '/me', dependsOn: ['4'] },
    ]);
    expect(response.statusCode).toBe(200);
    const answers = response.json().responses as Array<{
      id: string;
      status: number;
      headers: Record<string, string>;
      body?: unknown;
    }>;
    expect(answers.map((a) => [a.id, a.status])).toEqual([
      ['1', 200],
      ['2', 200],
      ['3', 200],
      // Only its own profile for this token: Graph refuses before looking the user up.
      ['4', 403],
      ['5', 424],
    ]);
    expect(answers[0]!.body).toMatchObject({ displayName: 'Jane Doe' });
    expect(answers[2]!.headers['Content-Type']).toBe('image/jpeg');
    const small = Buffer.from(answers[2]!.body as string, 'base64');
    expect((await sharp(small).metadata()).width).toBe(48);
    expect(closeTo(await meanColour(small), ORANGE)).toBe(true);
    expect((answers[3]!.body as { error: { code: string } }).error.code).toBe('Authorization_RequestDenied');

    // Each request is checked as if sent alone: a User.Read token may not write inside a batch either.
    const readOnly = await batch(await userToken(services, jane, ['User.Read']), [
      {
        id: 'a',
        method: 'PUT',
        url: '/me/photo/$value',
        headers: { 'content-type': 'image/jpeg' },
        body: orange.toString('base64'),
      },
    ]);
    expect(readOnly.json().responses[0].status).toBe(403);

    const many = Array.from({ length: 21 }, (_, i) => ({ id: String(i + 1), method: 'GET', url: '/me' }));
    const refusals: unknown[][] = [
      many,
      [
        { id: '1', method: 'GET', url: '/me', dependsOn: ['2'] },
        { id: '2', method: 'GET', url: '/me' },
      ],
      [
        { id: '1', method: 'GET', url: '/me' },
        { id: '1', method: 'GET', url: '/me' },
      ],
      [{ id: '1', method: 'PUT', url: '/me/photo/$value', body: 'AAAA' }],
      [{ id: '1', method: 'TRACE', url: '/me' }],
      // Only Graph: not the sign-in pages or the token endpoint beside it.
      [{ id: '1', method: 'GET', url: '/../signin' }],
    ];
    for (const requests of refusals) {
      const refused = await batch(janeToken, requests);
      expect(refused.statusCode).toBe(400);
      expect(refused.json().error.code).toBe('BadRequest');
    }
    // A batch in a batch, however its name is spelled, is refused on its own.
    for (const url of ['/$batch', '/%24batch', '/me/../$batch', '/$%62atch', '/%24B%61TCH', '/$batch/']) {
      const nested = await batch(janeToken, [
        { id: '1', method: 'POST', url, body: { requests: [] }, headers: { 'content-type': 'application/json' } },
      ]);
      expect(nested.statusCode).toBe(200);
      expect(nested.json().responses[0], url).toMatchObject({
        status: 400,
        body: { error: { message: 'A batch cannot hold another batch.' } },
      });
    }
    expect((await batch('pst_wrong', [{ id: '1', method: 'GET', url: '/me' }])).statusCode).toBe(401);
  });

  it('$batch: a request answered 405 keeps its Allow header, as it would alone', async () => {
    const reader = await userToken(services, jane, ['User.Read']);
    const response = await app.inject({
      method: 'POST',
      url: '/v1.0/$batch',
      headers: { ...bearer(reader), 'content-type': 'application/json' },
      payload: JSON.stringify({ requests: [{ id: '1', method: 'DELETE', url: '/me' }] }),
    });
    expect(response.statusCode).toBe(200);
    const [answer] = response.json().responses as Array<{ status: number; headers: Record<string, string> }>;
    expect(answer!.status).toBe(405);
    expect(answer!.headers.allow).toBe('GET, HEAD');
  });

  it('$batch: a header no HTTP request could carry (bad name, control or non-Latin-1 character, over 16 KB of them) refuses the batch with 400', async () => {
    const reader = await userToken(services, jane, ['User.Read']);
    for (const headers of [
      { 'client-request-id': 'a\r\nSet-Cookie: x=1' },
      { 'client-request-id': 'a\u0000b' },
      { 'client-request-id': '\u20ac' },
      { 'X Name': 'a' },
      { '': 'a' },
      // More than a request sent alone may carry (16 KB).
      Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`x-filler-${i}`, 'x'])),
    ]) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1.0/$batch',
        headers: { ...bearer(reader), 'content-type': 'application/json' },
        payload: JSON.stringify({ requests: [{ id: '1', method: 'GET', url: '/me', headers }] }),
      });
      expect(response.statusCode, JSON.stringify(headers)).toBe(400);
      expect(response.json().error.code).toBe('BadRequest');
      expect(response.json().error.message).toMatch(/request 1/);
    }
  });

  it('CORS as Graph does it: any origin, preflight answered, headers exposed, also on errors', async () => {
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: '/v1.0/me/photo/$value',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'PUT',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('*');
    expect(preflight.headers['access-control-allow-methods']).toContain('PUT');
    expect(preflight.headers['access-control-allow-headers']).toBe('authorization,content-type');
    const call = await get('/v1.0/me', janeToken, { origin: 'https://app.example' });
    expect(call.headers['access-control-allow-origin']).toBe('*');
    expect(call.headers['access-control-expose-headers']).toContain('request-id');
    expect(call.headers['access-control-allow-credentials']).toBeUndefined();
    const refused = await get('/v1.0/me', undefined, { origin: 'https://app.example' });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['access-control-allow-origin']).toBe('*');
    // The pages and the admin console stay same-origin.
    expect(
      (await get('/admin', undefined, { origin: 'https://app.example' })).headers['access-control-allow-origin'],
    ).toBeUndefined();
  });

  it('WWW-Authenticate: Bearer on every 401', async () => {
    const missing = await get('/v1.0/me/photo', undefined);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm=""');
    const wrong = await get('/v1.0/me/photo', 'pst_wrong');
    expect(wrong.headers['www-authenticate']).toMatch(
      /^Bearer realm="", error="invalid_token", error_description="[^"]+"$/,
    );
  });

  it('both photo size paths: /photo/48x48/$value and /photos/48x48/$value', async () => {
    for (const url of [
      '/v1.0/me/photo/48x48/$value',
      '/v1.0/me/photos/48x48/$value',
      `/v1.0/users/${jane.upn}/photo/64x64/$value`,
    ]) {
      const response = await get(url, janeToken);
      expect(response.statusCode, url).toBe(200);
      expect((await sharp(response.rawPayload).metadata()).width).toBe(Number(/(\d+)x/.exec(url)![1]));
    }
    expect((await get('/v1.0/me/photo/49x49/$value', janeToken)).json().error.code).toBe('ImageNotFound');
    // A photo smaller than Graph's smallest size is there at its own size only, and the answer says so.
    const small = await makeUser(services);
    await giveMailPhoto(services, small, await solidJpeg(TEAL, 32));
    const smallToken = await userToken(services, small);
    expect((await get('/v1.0/me/photos', smallToken)).json().value).toEqual([]);
    const none = (await get('/v1.0/me/photos/48x48/$value', smallToken)).json().error;
    expect(none.code).toBe('ImageNotFound');
    expect(none.message).toBe(
      'There is no 48x48 photo: this photo is 32x32, smaller than the smallest size listed (48x48), so /photos lists none. Ask for /photo/$value.',
    );
    expect((await get('/v1.0/me/photo/$value', smallToken)).statusCode).toBe(200);
  });

  it('standard scope names; a photo write needs User.ReadWrite or ProfilePhoto.ReadWrite.All', async () => {
    const put = (token: string, id = 'me', body?: Buffer) =>
      app.inject({
        method: 'PUT',
        url: id === 'me' ? '/v1.0/me/photo/$value' : `/v1.0/users/${id}/photo/$value`,
        headers: { ...bearer(token), 'content-type': 'image/jpeg' },
        payload: body ?? Buffer.alloc(0),
      });
    const picture = await solidJpeg(TEAL, 200);
    const userRead = await userToken(services, jane, ['User.Read']);
    expect((await put(userRead, 'me', picture)).statusCode).toBe(403);
    expect((await get('/v1.0/me/photo/$value', userRead)).statusCode).toBe(200);
    expect((await put(await userToken(services, jane, ['User.ReadWrite']), 'me', picture)).statusCode).toBe(200);
    for (const scope of ['User.ReadBasic.All', 'User.Read.All'] as const) {
      const app2 = await appToken(services, [scope]);
      expect((await get(`/v1.0/users/${jane.upn}/photo/$value`, app2)).statusCode, scope).toBe(200);
      expect((await get(`/v1.0/users/${jane.upn}`, app2)).statusCode, scope).toBe(200);
      expect((await put(app2, jane.upn, picture)).statusCode, scope).toBe(403);
    }
  });

  it('a user without a mailbox: Graph reads and writes the directory photo; the sites never take it', async () => {
    const own = await userToken(services, lee, ['User.ReadWrite']);
    expect((await get('/v1.0/me/photo/$value', own)).json().error.code).toBe('ImageNotFound');
    const big = await solidJpeg(ORANGE, 1200);
    expect(big.length).toBeGreaterThan(0);
    const set = await app.inject({
      method: 'PUT',
      url: '/v1.0/me/photo/$value',
      headers: { ...bearer(own), 'content-type': 'image/jpeg' },
      payload: big,
    });
    expect(set.statusCode).toBe(200);
    const stored = (await getDirectoryPhoto(services.database.db, lee.id))!;
    expect((await sharp(stored).metadata()).width).toBe(96);
    const value = await get('/v1.0/me/photo/$value', own);
    expect(value.statusCode).toBe(200);
    expect(closeTo(await meanColour(value.rawPayload), ORANGE)).toBe(true);
    const sizes = await get('/v1.0/me/photos', own);
    expect(sizes.json().value.map((s: { id: string }) => s.id)).toEqual(['48x48', '64x64', '96x96']);
    expect((await get('/v1.0/me/photos/48x48/$value', own)).statusCode).toBe(200);
    // The sites still show the placeholder: they take pictures only from the mail service.
    await services.sync.sync(lee, 'admin');
    expect((await getSiteProfile(services.database.db, lee.id))?.placeholderState ?? 1).toBe(1);
    const removed = await app.inject({ method: 'DELETE', url: '/v1.0/me/photo', headers: bearer(own) });
    expect(removed.statusCode).toBe(204);
    expect(await getDirectoryPhoto(services.database.db, lee.id)).toBeUndefined();
  });
});
