import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { buildApp } from '../src/app.js';
import type { DirectoryUser } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import { FormClient } from './support/form-client.js';
import { makeUser } from './support/factories.js';
import { startM365Tenant, type ConnectMode, type M365Tenant } from './support/m365-tenant.js';
import { createTestStore, openTestServices, type TestStore } from './support/services.js';

// The two states of connect mode no ordinary tenant user is in, each brought about by the tenant
// as a real one would, and shown by `photosync m365 scan` and the console's tenant view with the
// reason in words:
// - unknown: SharePoint shows tiny's picture (the tenant's own sync took it), but her Exchange
//   photo is 40 px, so Graph has no 64 or 48 px size of it and the pictures cannot be compared;
// - failing: the app was granted Graph's permissions but not SharePoint's Sites.FullControl.All,
//   so the tenant refuses the push of jane's photo with 403, and she stays failing until a push
//   succeeds.
// The command line and the console share one store, as an administrator's would.

interface ScannedUser {
  upn: string;
  state: string;
  stateReason: string | null;
  stateReasonCode: string | null;
}

const PASSWORD = 'correct horse battery';
const row = (html: string, upn: string) =>
  new RegExp(`<tr data-upn="${upn.replace(/[.@]/g, '\\$&')}"[^>]*>[\\s\\S]*?</tr>`).exec(html)?.[0] ?? '';

describe('connect mode shows unknown and failing with their reasons', { timeout: 240_000 }, () => {
  let tenant: M365Tenant;
  let connect: ConnectMode;
  let store: TestStore;
  let services: Services;
  let app: App;
  let admin: DirectoryUser;
  const m365 = (args: string[]) => connect.m365(args, store.env);

  beforeAll(async () => {
    tenant = await startM365Tenant();
    const csv = path.join(tenant.store.dataDir, 'tiny.csv');
    fs.writeFileSync(csv, 'tiny@contoso.com,Tiina Tamm,,true,false\n');
    expect((await tenant.cli(['users', 'import', csv])).code).toBe(0);
    const photo = path.join(tenant.store.dataDir, 'tiny.jpg');
    fs.writeFileSync(
      photo,
      await sharp({ create: { width: 40, height: 40, channels: 3, background: '#a03020' } })
        .jpeg()
        .toBuffer(),
    );
    const set = await tenant.cli(['photo', 'set', 'tiny@contoso.com', photo]);
    expect(set.code, set.stdout + set.stderr).toBe(0);
    // SharePoint takes her photo by its own sync: it shows a picture photosync has never compared.
    expect((await tenant.cli(['sync', 'tiny@contoso.com'])).code).toBe(0);

    connect = tenant.connect(await tenant.registerApp({ permissions: ['User.Read.All', 'ProfilePhoto.Read.All'] }));
    store = await createTestStore('sqlite');
    const connectEnv = Object.fromEntries(
      Object.entries(connect.env).filter(([name]) => name.startsWith('PHOTOSYNC_M365_')),
    );
    services = await openTestServices(store, connectEnv);
    app = await buildApp(services);
    admin = await makeUser(services, { isAdmin: true, displayName: 'Ada Admin' });
  }, 180_000);
  afterAll(async () => {
    await app?.close();
    await services?.close();
    await store?.drop();
    await tenant?.stop();
  });

  it('says unknown where the pictures cannot be compared, and failing after a refused push', async () => {
    const first = await m365(['scan', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const byUpn = (stdout: string) =>
      Object.fromEntries((JSON.parse(stdout) as { users: ScannedUser[] }).users.map((u) => [u.upn, u]));
    expect(byUpn(first.stdout)['tiny@contoso.com']).toMatchObject({
      state: 'unknown',
      stateReasonCode: 'not_comparable',
      stateReason: expect.stringMatching(/could not be compared.*Graph has no 64 or 48 px photo/),
    });
    expect(byUpn(first.stdout)['jane@contoso.com']).toMatchObject({ state: 'never_synced' });

    const push = await m365(['sync', 'jane@contoso.com']);
    expect(push.code).toBe(1);
    expect(push.stdout).toMatch(/^jane@contoso\.com: failed: .*403/m);

    // The plain table: the state and why, in words.
    const table = await m365(['scan']);
    expect(table.code, table.stderr).toBe(0);
    const line = (upn: string) => table.stdout.split('\n').find((l) => l.startsWith(upn)) ?? '';
    expect(line('tiny@contoso.com')).toMatch(/unknown .*The pictures could not be compared/);
    expect(line('jane@contoso.com')).toMatch(/failing .*SharePoint answered 403.*Sites\.FullControl\.All/);
    expect(table.stdout).toMatch(/1 failing/);
    expect(table.stdout).toMatch(/1 unknown/);

    for (const [locale, words] of [
      [
        'en',
        {
          unknown: 'Unknown',
          notComparable: 'SharePoint shows a picture, but it could not be compared with the Exchange photo',
          failing: 'The last push into SharePoint failed',
        },
      ],
      [
        'et',
        {
          unknown: 'Teadmata',
          notComparable: 'SharePoint näitab pilti, kuid seda ei õnnestunud Exchange’i fotoga võrrelda',
          failing: 'Viimane ülekanne SharePointi ebaõnnestus',
        },
      ],
    ] as const) {
      const browser = new FormClient(app, locale);
      await browser.signIn(admin.upn, PASSWORD);
      const response = await browser.request('GET', '/admin/tenant');
      expect(response.statusCode).toBe(200);
      const tiny = row(response.body, 'tiny@contoso.com');
      expect(tiny).toContain('data-state="unknown"');
      expect(tiny).toContain(words.unknown);
      expect(tiny).toContain('data-reason="not_comparable"');
      expect(tiny).toContain(words.notComparable);
      expect(tiny).toContain('Graph has no 64 or 48 px photo');
      const jane = row(response.body, 'jane@contoso.com');
      expect(jane).toContain('data-state="failing"');
      expect(jane).toContain('data-reason="push_failed"');
      expect(jane).toContain(words.failing);
      expect(jane).toMatch(/SharePoint answered 403/);
      // Each state's filter lists exactly that user.
      const unknowns = (await browser.request('GET', '/admin/tenant?state=unknown')).body;
      expect(unknowns.match(/<tr data-upn="[^"]+"/g)).toEqual(['<tr data-upn="tiny@contoso.com"']);
      const failing = (await browser.request('GET', '/admin/tenant?state=failing')).body;
      expect(failing.match(/<tr data-upn="[^"]+"/g)).toEqual(['<tr data-upn="jane@contoso.com"']);
    }
  });
});
