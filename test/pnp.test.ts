import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryUser } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import { getSiteProfile } from '../src/sites/profiles.js';
import { createApp } from '../src/directory/apps.js';
import { issueAccessToken } from '../src/directory/tokens.js';
import { userToken } from './support/apps.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import { createTestStore, openTestServices, testDialects, type TestStore } from './support/services.js';
import { run, startTlsServer, type TlsServer } from './support/tls-server.js';

// PnPjs, unchanged, against a real `photosync serve` over TLS: the examples in examples/, each
// pointed at photosync by its URL only. PnPjs parses every answer itself: an answer in a shape
// it cannot read fails these tests.

const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));

for (const dialect of testDialects()) {
  describe(`PnPjs over TLS [${dialect}]`, () => {
    let store: TestStore;
    let services: Services;
    let server: TlsServer;
    let jane: DirectoryUser;
    let lee: DirectoryUser;

    beforeAll(async () => {
      store = await createTestStore(dialect);
      services = await openTestServices(store);
      server = await startTlsServer(store);
      jane = await makeUser(services, { displayName: 'Jane Doe' });
      lee = await makeUser(services, { hasMailbox: false, displayName: 'Lee Gu' });
      await giveMailPhoto(services, jane, await solidJpeg([20, 150, 140], 300));
      await services.sync.sync(jane, 'admin');
    }, 60_000);
    afterAll(async () => {
      await server?.stop();
      await services?.close();
      await store?.drop();
    });

    it('example: @pnp/sp profiles.myProperties() and setMyProfilePic', async () => {
      const picture = path.join(store.dataDir, 'lee.jpg');
      fs.writeFileSync(picture, await solidJpeg([230, 130, 30], 400));
      const result = await run([path.join(EXAMPLES, 'pnp-sp-profile/index.mjs')], {
        ...server.env,
        SHAREPOINT_URL: server.baseUrl,
        ACCESS_TOKEN: await userToken(services, lee),
        PICTURE: picture,
      });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain(`Lee Gu (i:0#.f|membership|${lee.upn}): no picture`);
      expect(result.stdout).toMatch(
        /New picture: https:\/\/localhost:\d+\/User%20Photos\/Profile%20Pictures\/\S+_MThumb\.jpg\?t=\d+/,
      );
      expect(await getSiteProfile(services.database.db, lee.id)).toMatchObject({
        placeholderState: 0,
        pictureSource: 'upload',
      });
    }, 60_000);

    it('example: @pnp/sp library files by path (addUsingPath, getFileByServerRelativePath) and profile properties', async () => {
      const picture = path.join(store.dataDir, 'kai.jpg');
      fs.writeFileSync(picture, await solidJpeg([40, 90, 200], 400));
      const kai = await makeUser(services, { hasMailbox: false, displayName: "Kai O'Neil" });
      const result = await run([path.join(EXAMPLES, 'pnp-sp-library/index.mjs')], {
        ...server.env,
        SHAREPOINT_URL: server.baseUrl,
        // An app's token as the server's own token endpoint makes it: issued by its address.
        ACCESS_TOKEN: (
          await issueAccessToken(
            { db: services.database.db, publicUrl: server.baseUrl },
            {
              kind: 'app',
              app: await createApp(services.database.db, 'library script', ['ProfilePhoto.ReadWrite.All']),
            },
            { clientAuth: 'certificate' },
          )
        ).accessToken,
        UPN: kai.upn,
        PICTURE: picture,
      });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/Added \/User Photos\/Profile Pictures\/\S+_LThumb\.jpg \(\d+ bytes\)/);
      expect(result.stdout).toMatch(/_MThumb\.jpg: \d+ bytes/);
      expect(result.stdout).toMatch(
        /PictureURL: https:\/\/localhost:\d+\/User%20Photos\/Profile%20Pictures\/\S+_MThumb\.jpg/,
      );
      expect(await getSiteProfile(services.database.db, kai.id)).toMatchObject({
        placeholderState: 0,
        pictureSource: 'upload',
      });
    }, 60_000);

    it('example: @pnp/graph users() and batched()', async () => {
      const result = await run([path.join(EXAMPLES, 'pnp-graph-users/index.mjs')], {
        ...server.env,
        GRAPH_URL: `${server.baseUrl}/v1.0`,
        ACCESS_TOKEN: await userToken(services, jane),
      });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain(`Jane Doe <${jane.upn}>`);
      expect(result.stdout).toContain(`Lee Gu <${lee.upn}>`);
      expect(result.stdout).toMatch(new RegExp(`${jane.upn}: \\d+x\\d+`));
      expect(result.stdout).toContain(`${lee.upn}: no photo`);
    }, 60_000);
  });
}
