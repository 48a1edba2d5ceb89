import { InjectHeaders } from '@pnp/queryable';
import { SPBrowser } from '@pnp/sp';
import { Files } from '@pnp/sp/files/index.js';
import { Profiles } from '@pnp/sp/profiles/index.js';
import { SiteUser, SiteUsers, type ISiteUser } from '@pnp/sp/site-users/index.js';
import { Web } from '@pnp/sp/webs/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryUser } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import { siteUserId } from '../src/sites/rest-web.js';
import { userToken } from './support/apps.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
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
    /** web.getUserById, which @pnp/sp/site-users adds to the web. */
    const getUserById = (id: number) => (web() as unknown as { getUserById(id: number): ISiteUser }).getUserById(id);

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

    it('@pnp/sp orders, skips and pages the site users and the library files, and filters the files', async () => {
      const titles = async (query: ReturnType<typeof siteUsers>) => (await query()).map((u) => u.Title);
      expect(await titles(siteUsers().orderBy('Title', false).top(1))).toEqual(['Kalle Kask']);
      expect(await titles(siteUsers().orderBy('Title').skip(1).top(1))).toEqual(['Kalle Kask']);
      await expect(siteUsers().orderBy('Department')()).rejects.toMatchObject({ status: 400 });

      for (const user of [jane, kalle]) {
        await giveMailPhoto(services, user, await solidJpeg([40, 90, 160]));
        await services.sync.sync(user, 'admin');
      }
      const files = () =>
        Files([web(), `${server.baseUrl}/_api/web/getFolderByServerRelativeUrl('/User Photos/Profile Pictures')`]);
      const stem = (user: DirectoryUser) => user.upn.replace(/[@.]/g, '_');
      const names = async (query: ReturnType<typeof files>) => (await query()).map((f) => f.Name);
      expect(await names(files().filter(`Name eq '${stem(kalle)}_MThumb.jpg'`))).toEqual([`${stem(kalle)}_MThumb.jpg`]);
      expect(await names(files().filter("Name eq 'ghost_contoso_com_MThumb.jpg'"))).toEqual([]);
      expect(
        await names(
          files()
            .filter(`startswith(Name,'${stem(jane)}')`)
            .orderBy('Name', false),
        ),
      ).toEqual([`${stem(jane)}_SThumb.jpg`, `${stem(jane)}_MThumb.jpg`, `${stem(jane)}_LThumb.jpg`]);
      expect(await names(files().top(2))).toHaveLength(2);
      expect(await names(files().skip(5))).toHaveLength(1);
      await expect(files().filter("Length gt '5'")()).rejects.toMatchObject({ status: 400 });
      await expect(files().top(-1)()).rejects.toMatchObject({ status: 400 });
    });

    it('@pnp/sp finds one site user by e-mail, login name or Id (siteUsers.getByEmail, getByLoginName, getById, web.getUserById)', async () => {
      const claim = `i:0#.f|membership|${kalle.upn}`;
      expect(await siteUsers().getByEmail(kalle.upn.toUpperCase())()).toMatchObject({
        LoginName: claim,
        Title: 'Kalle Kask',
      });
      expect(await siteUsers().getByLoginName(claim)()).toMatchObject({ Email: kalle.upn });
      const id = siteUserId(kalle.id);
      expect(await siteUsers().getById(id)()).toMatchObject({ Id: id, LoginName: claim });
      expect(await getUserById(id)()).toMatchObject({ Id: id, LoginName: claim });
      const info = await siteUsers().getByEmail(jane.upn).select('Id', 'Title')();
      expect(info).toMatchObject({ Id: siteUserId(jane.id), Title: 'Jane Doe' });
      for (const missing of [
        siteUsers().getByEmail('nobody@contoso.com')(),
        siteUsers().getByLoginName('i:0#.f|membership|nobody@contoso.com')(),
        siteUsers().getById(12345)(),
        getUserById(12345)(),
      ]) {
        await expect(missing).rejects.toMatchObject({ status: 404 });
      }
    });

    it('@pnp/sp web() and web.select(…)(), the getting-started call, answer the site as SP.Web', async () => {
      const site = await web()();
      expect(site).toMatchObject({ Url: server.baseUrl, ServerRelativeUrl: '/' });
      expect(site.Id).toMatch(/^[0-9a-f-]{36}$/);
      expect(typeof site.Title).toBe('string');
      expect(await web().select('Title', 'Url')()).toMatchObject({ Title: site.Title, Url: server.baseUrl });
    });

    it('@pnp/sp profiles.userProfile: the ProfileLoader says whether the sites take the picture from the mail service', async () => {
      const profiles = (bearer: string) =>
        Profiles([
          Web(server.baseUrl).using(SPBrowser(), InjectHeaders({ Authorization: `Bearer ${bearer}` })),
          server.baseUrl,
        ]);
      const mine = await profiles(token).userProfile;
      expect(mine).toMatchObject({
        AccountName: `i:0#.f|membership|${jane.upn}`,
        DisplayName: 'Jane Doe',
        IsSelf: true,
        PictureImportEnabled: true,
      });
      expect(mine.PublicUrl).toContain('/_layouts/15/person.aspx?accountname=');
      // Someone without a mailbox keeps the picture uploaded in the sites: nothing is imported.
      const lee = await makeUser(services, { displayName: 'Lee Gu', hasMailbox: false });
      const leeToken = await userToken(services, lee, ['User.Read']);
      expect(await profiles(leeToken).userProfile).toMatchObject({
        DisplayName: 'Lee Gu',
        PictureImportEnabled: false,
      });
    });

    /** The properties of an answer, without the OData annotations PnPjs leaves on it. */
    const properties = (value: object) => Object.keys(value).filter((key) => !/^(?:odata\.|__metadata$)/.test(key));

    it('@pnp/sp .select(…) answers only the properties selected: web, currentUser, siteUsers, myProperties', async () => {
      expect(properties(await web().select('Title', 'Url')())).toEqual(['Title', 'Url']);
      const me = await SiteUser(web(), 'currentuser').select('Title', 'Email')();
      expect(me).toMatchObject({ Title: 'Jane Doe', Email: jane.upn });
      expect(properties(me)).toEqual(['Title', 'Email']);
      const users = await siteUsers().select('Title').filter(`Email eq '${kalle.upn}'`)();
      expect(users.map(properties)).toEqual([['Title']]);
      expect(users[0]).toMatchObject({ Title: 'Kalle Kask' });
      const mine = await Profiles([web(), server.baseUrl]).myProperties.select('DisplayName', 'PictureUrl')();
      expect(properties(mine)).toEqual(['DisplayName', 'PictureUrl']);
      expect(mine).toMatchObject({ DisplayName: 'Jane Doe' });
      // A property the type does not have is SharePoint's 400, as a misspelt $select is there.
      await expect(SiteUser(web(), 'currentuser').select('Titel')()).rejects.toMatchObject({ status: 400 });
      // In verbose, the __metadata PnPjs reads stays with the selected properties.
      const verbose = await fetch(`${server.baseUrl}/_api/web/currentuser?$select=Id`, {
        headers: { Authorization: `Bearer ${token}`, Accept: 'application/json;odata=verbose' },
      });
      const body = (await verbose.json()) as { d: Record<string, unknown> };
      expect(Object.keys(body.d).sort()).toEqual(['Id', '__metadata']);
    });
  });
}
