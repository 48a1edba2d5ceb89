import { beforeAll, expect, it } from 'vitest';
import { createApp } from '../src/directory/apps.js';
import { issueAccessToken } from '../src/directory/tokens.js';
import type { GraphScope } from '../src/directory/scopes.js';
import type { App } from '../src/app.js';
import type { Services } from '../src/services.js';
import { appToken, bearer, userToken } from './support/apps.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import { describeEachDialect, useTestApp } from './support/services.js';

// The authorization matrix: each kind of caller × each endpoint, as Graph answers them.
// "other" is a colleague with a photo, fresh for every row, so writes in one row do not affect another.

const ENDPOINTS = [
  'GET /me',
  'GET /me/photo/$value',
  'PUT /me/photo/$value',
  'GET /users/{other}',
  'GET /users/{other}/photo/$value',
  'PUT /users/{other}/photo/$value',
  'DELETE /users/{other}/photo',
] as const;

type Row = [caller: string, statuses: number[]];
const MATRIX: Row[] = [
  ['no token', [401, 401, 401, 401, 401, 401, 401]],
  ['expired app token', [401, 401, 401, 401, 401, 401, 401]],
  ['tampered app token', [401, 401, 401, 401, 401, 401, 401]],
  ['app token for another audience', [401, 401, 401, 401, 401, 401, 401]],
  ['user token, default scopes', [200, 200, 200, 200, 200, 403, 403]],
  // Graph: User.Read reads your own photo; writing it needs User.ReadWrite.
  ['user token, User.Read', [200, 200, 403, 403, 403, 403, 403]],
  ['user token, User.ReadWrite', [200, 200, 200, 403, 403, 403, 403]],
  ['user token, User.ReadBasic.All', [200, 200, 403, 200, 200, 403, 403]],
  ['user token, ProfilePhoto.Read.All', [200, 200, 403, 200, 200, 403, 403]],
  ['user token, ProfilePhoto.ReadWrite.All', [200, 200, 200, 200, 200, 403, 403]],
  ['admin token, ProfilePhoto.ReadWrite.All', [200, 200, 200, 200, 200, 200, 204]],
  ['app token, User.Read', [400, 400, 400, 403, 403, 403, 403]],
  ['app token, ProfilePhoto.Read.All', [400, 400, 400, 200, 200, 403, 403]],
  ['app token, ProfilePhoto.ReadWrite.All', [400, 400, 400, 200, 200, 200, 204]],
];

describeEachDialect('Graph authorization matrix', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  let photo: Buffer;
  beforeAll(async () => {
    ({ services, app } = context);
    photo = await solidJpeg([90, 90, 200], 96);
  });

  async function userCaller(scopes: GraphScope[] | undefined, isAdmin = false) {
    const user = await makeUser(services, { isAdmin });
    await giveMailPhoto(services, user, photo);
    return userToken(services, user, scopes);
  }

  async function callerToken(caller: string): Promise<string | undefined> {
    const scopes = (caller.split(', ')[1] ?? '') as GraphScope;
    const signed = async (options: { now?: number; audience?: string }) => {
      const registered = await createApp(services.database.db, 'matrix', ['ProfilePhoto.ReadWrite.All']);
      const deps = { db: services.database.db, publicUrl: services.config.publicUrl };
      return (await issueAccessToken(deps, { kind: 'app', app: registered }, options)).accessToken;
    };
    switch (caller) {
      case 'no token':
        return undefined;
      case 'expired app token':
        return signed({ now: Date.now() - 2 * 3600_000 });
      case 'tampered app token': {
        const token = await appToken(services, ['ProfilePhoto.ReadWrite.All']);
        const [header, payload, signature] = token.split('.');
        const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
        claims.roles = ['ProfilePhoto.ReadWrite.All', 'User.Read'];
        return `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
      }
      case 'app token for another audience':
        // A SharePoint token is not for Graph, and Graph does not take it.
        return signed({ audience: '00000003-0000-0ff1-ce00-000000000000' });
      case 'user token, default scopes':
        return userCaller(undefined);
      case 'admin token, ProfilePhoto.ReadWrite.All':
        return userCaller(['ProfilePhoto.ReadWrite.All'], true);
      default:
        return caller.startsWith('user') ? userCaller([scopes]) : appToken(services, [scopes]);
    }
  }

  it.each(MATRIX)('%s', async (caller, expected) => {
    const token = await callerToken(caller);
    const other = await makeUser(services);
    await giveMailPhoto(services, other, photo);
    const statuses: number[] = [];
    for (const endpoint of ENDPOINTS) {
      const [method, path] = endpoint.split(' ') as ['GET' | 'PUT' | 'DELETE', string];
      const response = await app.inject({
        method,
        url: `/v1.0${path.replace('{other}', other.upn)}`,
        headers: { ...bearer(token), ...(method === 'PUT' ? { 'content-type': 'image/jpeg' } : {}) },
        ...(method === 'PUT' ? { payload: photo } : {}),
      });
      statuses.push(response.statusCode);
      if (response.statusCode >= 400) expect(response.json().error.innerError['request-id']).toBeTruthy();
    }
    expect(Object.fromEntries(ENDPOINTS.map((e, i) => [e, statuses[i]]))).toEqual(
      Object.fromEntries(ENDPOINTS.map((e, i) => [e, expected[i]])),
    );
  });
});
