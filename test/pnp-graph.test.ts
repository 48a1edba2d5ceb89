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
  });
}
