import { InjectHeaders } from '@pnp/queryable';
import { SPBrowser } from '@pnp/sp';
import { SiteUsers } from '@pnp/sp/site-users/index.js';
import { Web } from '@pnp/sp/webs/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryUser } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import { siteUserId } from '../src/sites/rest-web.js';
import { userToken } from './support/apps.js';
import { makeUser } from './support/factories.js';
import { createTestStore, openTestServices, testDialects, type TestStore } from './support/services.js';
import { startTlsServer, type TlsServer } from './support/tls-server.js';

// PnPjs, unchanged, called in the test process against a real
// `photosync serve` over TLS, one call at a time, as a script ported from Microsoft 365 makes them.
// PnPjs builds every URL and parses every answer itself. (PnPjs's typings add `sp.web` and the
// like by module augmentation, which TypeScript's NodeNext resolution does not apply, so the
// objects are made with PnPjs's own factories: `Web(url)` is what `spfi(url).web` makes.)

for (const dialect of testDialects()) {
  describe(`PnPjs calls over TLS [${dialect}]`, () => {
    let store: TestStore;
    let services: Services;
    let server: TlsServer;
    let jane: DirectoryUser;
    let kalle: DirectoryUser;
    let token: string;

    beforeAll(async () => {
      store = await createTestStore(dialect);
      services = await openTestServices(store);
      server = await startTlsServer(store);
      jane = await makeUser(services, { displayName: 'Jane Doe' });
      kalle = await makeUser(services, { displayName: 'Kalle Kask' });
      token = await userToken(services, jane, ['User.Read', 'User.ReadBasic.All', 'ProfilePhoto.Read.All']);
    }, 60_000);
    afterAll(async () => {
      await server?.stop();
      await services?.close();
      await store?.drop();
    });

    const web = () => Web(server.baseUrl).using(SPBrowser(), InjectHeaders({ Authorization: `Bearer ${token}` }));
    const siteUsers = () => SiteUsers(web());

    it('@pnp/sp siteUsers.filter() answers only the users the filter names', async () => {
      const byEmail = await siteUsers().filter(`Email eq '${kalle.upn.toUpperCase()}'`)();
      expect(byEmail.map((u) => u.LoginName)).toEqual([`i:0#.f|membership|${kalle.upn}`]);
      const byTitle = await siteUsers().filter("startswith(Title,'jane') or substringof('Kask',Title)")();
      expect(byTitle.map((u) => u.Title).sort()).toEqual(['Jane Doe', 'Kalle Kask']);
      const byId = await siteUsers().filter(`Id eq ${siteUserId(jane.id)}`)();
      expect(byId.map((u) => u.Email)).toEqual([jane.upn]);
      expect(await siteUsers().filter("Email eq 'nobody@contoso.com'")()).toEqual([]);
      expect((await siteUsers().top(1)()).length).toBe(1);
      await expect(siteUsers().filter("Department eq 'Sales'")()).rejects.toMatchObject({ status: 400 });
    });
  });
}
