import { graphfi, GraphBrowser } from '@pnp/graph';
import '@pnp/graph/users/index.js';
import '@pnp/graph/photos/index.js';
import type { IPhoto } from '@pnp/graph/photos/index.js';
import type { IUsers } from '@pnp/graph/users/index.js';
import { InjectHeaders } from '@pnp/queryable';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryUser } from '../src/directory/users.js';
import { getMailPhoto } from '../src/mail/photo-store.js';
import type { Services } from '../src/services.js';
import { userToken } from './support/apps.js';
import { makeUser, solidJpeg } from './support/factories.js';
import { createTestStore, openTestServices, testDialects, type TestStore } from './support/services.js';
import { startTlsServer, type TlsServer } from './support/tls-server.js';

// @pnp/graph, unchanged, called in the test process against a real `photosync serve` over TLS.
// PnPjs sends every Graph request with its default `Content-Type: application/json`, also a
// photo's bytes (photo.setContent), as it does against Microsoft 365. (`graph.me` and
// `graph.users` are added by module augmentation, which NodeNext does not apply to the types.)

interface Graph {
  me: { photo: IPhoto };
  users: IUsers;
}

for (const dialect of testDialects()) {
  describe(`@pnp/graph over TLS [${dialect}]`, () => {
    let store: TestStore;
    let services: Services;
    let server: TlsServer;
    let jane: DirectoryUser;

    beforeAll(async () => {
      store = await createTestStore(dialect);
      services = await openTestServices(store);
      server = await startTlsServer(store);
      jane = await makeUser(services, { displayName: 'Jane Doe' });
    }, 60_000);
    afterAll(async () => {
      await server?.stop();
      await services?.close();
      await store?.drop();
    });

    const graph = (token: string) =>
      graphfi().using(
        GraphBrowser({ baseUrl: `${server.baseUrl}/v1.0` }),
        InjectHeaders({ Authorization: `Bearer ${token}` }),
      ) as unknown as Graph;

    it('photo.setContent(bytes) sets the photo, though PnPjs declares the bytes application/json', async () => {
      const token = await userToken(services, jane, ['User.ReadWrite']);
      await graph(token).me.photo.setContent(new Blob([new Uint8Array(await solidJpeg([200, 40, 40], 400))]));
      const photo = await getMailPhoto(services.database.db, jane.id);
      expect(photo).toBeDefined();
      expect(await graph(token).me.photo()).toMatchObject({ width: 400, height: 400 });
    });

    it('photo.setContent refuses what is not an image with Graph’s error, changing nothing', async () => {
      const token = await userToken(services, jane, ['User.ReadWrite']);
      const before = (await getMailPhoto(services.database.db, jane.id))?.etag;
      for (const body of ['{"displayName":"Jane"}', 'GIF8 not quite', '']) {
        const refused = await graph(token)
          .me.photo.setContent(new Blob([body]))
          .then(
            () => undefined,
            (error: { status?: number; response?: Response }) => error,
          );
        expect(refused?.status, body).toBe(400);
        const answer = (await refused?.response?.json()) as { error?: { code?: string; message?: string } };
        expect(answer.error?.code, body).toBe('ErrorInvalidImage');
      }
      expect((await getMailPhoto(services.database.db, jane.id))?.etag).toBe(before);
    });

    it('users.orderBy(displayName or userPrincipalName), paged by @odata.nextLink ($skiptoken)', async () => {
      const anna = await makeUser(services, { displayName: 'Anna Zed', upn: 'zed.anna@contoso.com' });
      const bert = await makeUser(services, { displayName: 'Bert Young', upn: 'bert.young@contoso.com' });
      const token = await userToken(services, jane, ['User.ReadBasic.All']);
      const pages = async (users: IUsers) => {
        const seen: string[] = [];
        for await (const page of users)
          seen.push(...(page as Array<{ displayName: string }>).map((u) => u.displayName));
        return seen;
      };
      const names = [anna, bert, jane].map((u) => u.displayName);
      expect(await pages(graph(token).users.orderBy('displayName').top(2))).toEqual(names);
      expect(await pages(graph(token).users.orderBy('displayName', false).top(2))).toEqual([...names].reverse());
      const byUpn = [anna, bert, jane].sort((a, b) => (a.upn < b.upn ? -1 : 1)).map((u) => u.displayName);
      expect(await pages(graph(token).users.orderBy('userPrincipalName', false).top(1))).toEqual(byUpn.reverse());
    });

    it('$orderby: Graph’s own refusals, and $filter with $orderby as an advanced query only', async () => {
      const token = await userToken(services, jane, ['User.ReadBasic.All']);
      const get = (query: string, headers: Record<string, string> = {}) =>
        fetch(`${server.baseUrl}/v1.0/users?${query}`, { headers: { Authorization: `Bearer ${token}`, ...headers } });
      for (const [query, message] of [
        ['$orderby=mail', /orderby/i],
        ['$orderby=displayName sideways', /orderby/i],
        ['$orderby=displayName,userPrincipalName', /orderby/i],
        ["$filter=startswith(displayName,'B')&$orderby=displayName", /Sorting not supported for current query/],
      ] as const) {
        const response = await get(query);
        expect(response.status, query).toBe(400);
        const body = (await response.json()) as { error: { code: string; message: string } };
        expect(body.error.code, query).toBe('Request_UnsupportedQuery');
        expect(body.error.message, query).toMatch(message);
      }
      const advanced = await get(
        "$filter=startswith(displayName,'B') or startswith(displayName,'A')&$orderby=displayName desc&$count=true",
        {
          ConsistencyLevel: 'eventual',
        },
      );
      expect(advanced.status).toBe(200);
      const body = (await advanced.json()) as { '@odata.count': number; value: Array<{ displayName: string }> };
      expect(body['@odata.count']).toBe(2);
      expect(body.value.map((u) => u.displayName)).toEqual(['Bert Young', 'Anna Zed']);
    });
  });
}
