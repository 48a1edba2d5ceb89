import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { buildApp } from '../src/app.js';
import type { DirectoryUser } from '../src/directory/users.js';
import { scanTenant } from '../src/m365/scan.js';
import { createTenantSession } from '../src/m365/sessions.js';
import { findTenantUser } from '../src/m365/users.js';
import type { Services } from '../src/services.js';
import { runCommand } from './support/cli.js';
import { makeUser } from './support/factories.js';
import { FormClient } from './support/form-client.js';
import { startM365Tenant, type M365Tenant } from './support/m365-tenant.js';
import { createTestStore, openTestServices, testDialects, type TestStore } from './support/services.js';

// A push for someone the tenant changed after the last scan, against photosync playing the tenant:
// renamed (a new userPrincipalName, the same object id), the push finds them by object id, writes
// SharePoint under their new name and lists them by it, from the console and from their own tile
// at the portal; removed, the console and the command line say in words that they are no longer in
// the tenant, and the console stops listing them. Both databases.

const PASSWORD = 'correct horse battery';
const CONNECT_URL = 'http://127.0.0.1:3999';
const listed = (html: string) => [...html.matchAll(/<tr data-upn="([^"]+)"/g)].map((m) => m[1]);

/** What the tenant's userphoto.aspx serves for a user now, asked as a signed-in person of the tenant. */
async function tenantPicture(tenant: M365Tenant, token: string, upn: string): Promise<string> {
  const response = await fetch(
    `${tenant.url}/_layouts/15/userphoto.aspx?size=M&accountname=${encodeURIComponent(upn)}`,
    { headers: { authorization: `Bearer ${token}` } },
  );
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer()).toString('base64');
}

for (const dialect of testDialects()) {
  describe(
    `a push for a user renamed or removed in the tenant since the scan [${dialect}]`,
    { timeout: 180_000 },
    () => {
      let tenant: M365Tenant;
      let tenantToken: string;
      let connectEnv: Record<string, string>;
      let store: TestStore;
      let services: Services;
      let app: App;
      let admin: DirectoryUser;
      let browser: FormClient;
      /** The tenant's placeholder, as userphoto.aspx serves it to anyone without a picture. */
      let placeholder: string;

      beforeAll(async () => {
        // A tenant of its own per database: the tests rename and remove its people.
        tenant = await startM365Tenant();
        tenantToken = (await tenant.cli(['token', 'create', 'admin@contoso.com'])).stdout.trim().split('\n').pop()!;
        const env = tenant.connect(await tenant.registerApp()).env;
        connectEnv = {
          ...Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('PHOTOSYNC_M365_'))),
          PHOTOSYNC_PUBLIC_URL: CONNECT_URL,
        };
        store = await createTestStore(dialect);
        services = await openTestServices(store, connectEnv);
        app = await buildApp(services);
        admin = await makeUser(services, { isAdmin: true, displayName: 'Ada Admin' });
        await services.settings.update({ operatorSync: true }, admin);
        browser = new FormClient(app);
        await browser.signIn(admin.upn, PASSWORD);
        expect((await scanTenant(services.m365!, services.database.db)).scan.status).toBe('done');
        placeholder = await tenantPicture(tenant, tenantToken, 'nestor@contoso.com');
      }, 300_000);
      afterAll(async () => {
        await app?.close();
        await services?.close();
        await store?.drop();
        await tenant?.stop();
      });

      const page = async (url: string, expected = 200) => {
        const response = await browser.request('GET', url);
        expect(response.statusCode, `${url}: ${response.body.slice(0, 400)}`).toBe(expected);
        return response.body;
      };

      it('the console pushes someone renamed since the scan under their new UPN, found by object id', async () => {
        const { db } = services.database;
        const before = (await findTenantUser(db, 'jane@contoso.com'))!;
        expect(before.state).toBe('never_synced');
        tenant.renameUser('jane@contoso.com', 'jane.doe@contoso.com');
        expect(await tenantPicture(tenant, tenantToken, 'jane.doe@contoso.com')).toBe(placeholder);

        // The console lists her as the scan found her; the dry run already reads her under the new name.
        const confirm = await page('/admin/tenant/sync?upn=jane%40contoso.com');
        expect(confirm).toContain('data-outcome="would_push"');
        const token = /name="_csrf" value="([^"]+)"/.exec(confirm)![1]!;
        const done = await browser.request('POST', '/admin/tenant/sync', { _csrf: token, upn: 'jane@contoso.com' });
        expect(done.statusCode).toBe(303);
        const after = await page(done.headers.location as string);
        expect(after).toContain('Synced from the console: 1 pushed, 0 failed, 0 with nothing to do.');
        expect(after).toContain('<li>Jane Doe: the Exchange photo was pushed into SharePoint.</li>');

        // SharePoint shows her Exchange photo under the new name; photosync lists her by it, the same user.
        expect(await tenantPicture(tenant, tenantToken, 'jane.doe@contoso.com')).not.toBe(placeholder);
        expect(await findTenantUser(db, 'jane@contoso.com')).toBeUndefined();
        expect(await findTenantUser(db, 'jane.doe@contoso.com')).toMatchObject({ id: before.id, state: 'in_step' });
        const list = listed(await page('/admin/tenant'));
        expect(list).toContain('jane.doe@contoso.com');
        expect(list).not.toContain('jane@contoso.com');
      });

      it('the portal’s tile pushes someone renamed since the scan, their session being by object id', async () => {
        const { db } = services.database;
        const before = (await findTenantUser(db, 'kalle@contoso.com'))!;
        expect(before.state).toBe('never_synced');
        // Signed in before the rename; the session names the user by object id.
        const portal = new FormClient(app);
        portal.cookies.set('photosync_m365_session', await createTenantSession(db, before.id));
        const home = await portal.request('GET', '/');
        expect(home.body).toContain('Hello, Kalle Kask');
        tenant.renameUser('kalle@contoso.com', 'kalle.kask@contoso.com');

        const token = /name="_csrf" value="([^"]+)"/.exec(home.body)![1]!;
        const launched = await portal.request('POST', '/m365/launch/sharepoint', { _csrf: token });
        expect(launched.statusCode, launched.body.slice(0, 600)).toBe(303);
        expect(launched.headers.location).toBe(`${tenant.url}/_layouts/15/sharepoint.aspx`);
        expect(await tenantPicture(tenant, tenantToken, 'kalle.kask@contoso.com')).not.toBe(placeholder);
        expect(await findTenantUser(db, before.id)).toMatchObject({ upn: 'kalle.kask@contoso.com', state: 'in_step' });
        const attempts = await db
          .selectFrom('m365_push_attempts')
          .select(['trigger', 'outcome'])
          .where('user_id', '=', before.id)
          .execute();
        expect(attempts).toEqual([{ trigger: 'sharepoint_tile', outcome: 'synced' }]);
      });

      it('the console says in words that someone removed since the scan is no longer in the tenant, and stops listing them', async () => {
        const { db } = services.database;
        expect(listed(await page('/admin/tenant'))).toContain('nestor@contoso.com');
        expect((await tenant.cli(['users', 'remove', 'nestor@contoso.com'])).code).toBe(0);

        // The dry run says so, and writes nothing.
        const confirm = await page('/admin/tenant/sync?upn=nestor%40contoso.com');
        expect(confirm).toContain(
          'Nestor Wilke: could not be synced. This person is no longer in the Microsoft 365 tenant: they were deleted or moved to another tenant. photosync no longer lists them.',
        );
        expect(confirm).not.toContain('Request_ResourceNotFound</');
        expect(confirm).not.toContain('id="confirm-sync"');
        expect(await findTenantUser(db, 'nestor@contoso.com')).toBeDefined();

        // Pushed anyway (the confirmation of a page loaded before the removal): said, recorded, no longer listed.
        const token = await browser.csrfToken('/admin/tenant');
        const done = await browser.request('POST', '/admin/tenant/sync', { _csrf: token, upn: 'nestor@contoso.com' });
        expect(done.statusCode).toBe(303);
        const after = await page(done.headers.location as string);
        expect(after).toContain('Synced from the console: 0 pushed, 1 failed, 0 with nothing to do.');
        expect(after).toContain(
          'Nestor Wilke: could not be synced. This person is no longer in the Microsoft 365 tenant',
        );
        expect(listed(after)).not.toContain('nestor@contoso.com');
        expect(await findTenantUser(db, 'nestor@contoso.com')).toBeUndefined();
        // In Estonian too.
        const et = new FormClient(app, 'et');
        await et.signIn(admin.upn, PASSWORD);
        const estonian = await et.request('GET', '/admin/tenant/sync?upn=megan%40contoso.com');
        expect(estonian.statusCode).toBe(200);
        expect((await tenant.cli(['users', 'remove', 'megan@contoso.com'])).code).toBe(0);
        const gone = await et.request('GET', '/admin/tenant/sync?upn=megan%40contoso.com');
        expect(gone.body).toContain(
          'Megan Bowen – sünkroonimine ebaõnnestus. Seda kasutajat pole enam Microsoft 365 rentnikus, sest ta on kustutatud või viidud teise rentnikku.',
        );
      });

      it('photosync m365 sync says in words that someone removed since the scan is no longer in the tenant', async () => {
        expect(await findTenantUser(services.database.db, 'megan@contoso.com')).toBeDefined();
        const result = await runCommand(['m365', 'sync', 'megan@contoso.com'], {
          ...store.env,
          ...connectEnv,
          PHOTOSYNC_LOG_LEVEL: 'silent',
        });
        expect(result.stdout).toMatch(
          /^megan@contoso\.com: failed: Megan Bowen \(megan@contoso\.com\) is no longer in the tenant: Microsoft Graph has no user with their object id [0-9a-f-]+, so they were deleted or moved to another tenant\. photosync no longer lists them\. \(\d+ ms\)$/m,
        );
        expect(result.stdout).not.toContain('Request_ResourceNotFound');
        expect(result.code).toBe(1);
        expect(await findTenantUser(services.database.db, 'megan@contoso.com')).toBeUndefined();
        // Named again: the tenant has no such user, in the same words as for anyone it never had.
        const again = await runCommand(['m365', 'sync', 'megan@contoso.com'], { ...store.env, ...connectEnv });
        expect(again.stderr).toContain('The tenant has no user megan@contoso.com.');
        expect(again.code).toBe(1);
      });
    },
  );
}
