import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeTo, meanColour } from './support/factories.js';
import { startM365Tenant, type ConnectMode, type M365Tenant } from './support/m365-tenant.js';

// SharePoint names a user's picture files after the UPN with every character but a–z, 0–9, "_"
// and "-" made "_", so a.b@contoso.com and a_b@contoso.com both give a_b_contoso_com. A push for
// one must never overwrite the other's face: the tenant here has both, each with their own
// Exchange photo, and SharePoint's own sync has already shown a.b's.

const RED: [number, number, number] = [200, 40, 40];
const BLUE: [number, number, number] = [40, 60, 200];
const GREEN: [number, number, number] = [30, 160, 70];

describe('connect mode with two UPNs that give the same file name', { timeout: 240_000 }, () => {
  let tenant: M365Tenant;
  let connect: ConnectMode;
  let token: string;

  const photo = async (upn: string, rgb: [number, number, number]) => {
    const file = path.join(tenant.store.dataDir, `${upn}-${rgb.join('-')}.jpg`);
    const [r, g, b] = rgb;
    fs.writeFileSync(
      file,
      await sharp({ create: { width: 300, height: 300, channels: 3, background: { r, g, b } } })
        .jpeg()
        .toBuffer(),
    );
    const set = await tenant.cli(['photo', 'set', upn, file]);
    expect(set.code, set.stdout + set.stderr).toBe(0);
  };
  /** The colour of the picture SharePoint shows for the user, as anyone in the tenant sees it. */
  const shown = async (upn: string) => {
    const response = await fetch(`${tenant.url}/_layouts/15/userphoto.aspx?size=L&accountname=${upn}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(200);
    return meanColour(Buffer.from(await response.arrayBuffer()));
  };

  beforeAll(async () => {
    tenant = await startM365Tenant();
    const csv = path.join(tenant.store.dataDir, 'twins.csv');
    fs.writeFileSync(
      csv,
      [
        'a.b@contoso.com,Anna Berg,,true,false',
        'a_b@contoso.com,Arvo Bergmann,,true,false',
        'carl@contoso.com,Carl Kask,,true,false',
        'd.e@contoso.com,Dora Eller,,true,false',
        'd_e@contoso.com,Dan Ek,,true,false',
        '',
      ].join('\n'),
    );
    expect((await tenant.cli(['users', 'import', csv])).code).toBe(0);
    // Each person's photo by a command of its own, side by side (as several administrators would).
    await Promise.all([
      photo('a.b@contoso.com', RED),
      photo('a_b@contoso.com', BLUE),
      photo('carl@contoso.com', GREEN),
      photo('d.e@contoso.com', RED),
      photo('d_e@contoso.com', BLUE),
    ]);
    // SharePoint's own sync already shows a.b's and d.e's photos, in files named a_b_contoso_com
    // and d_e_contoso_com, and carl's.
    const synced = await Promise.all(
      ['a.b@contoso.com', 'd.e@contoso.com', 'carl@contoso.com'].map((upn) => tenant.cli(['sync', upn])),
    );
    for (const sync of synced) expect(sync.code, sync.stdout + sync.stderr).toBe(0);
    const [created, app] = await Promise.all([
      tenant.cli(['token', 'create', 'admin@contoso.com']),
      tenant.registerApp(),
    ]);
    token = created.stdout.trim().split('\n').pop()!;
    connect = tenant.connect(app);
  }, 180_000);
  afterAll(async () => {
    await tenant?.stop();
  });

  it('pushes each of them into files of their own', async () => {
    const scan = await connect.m365(['scan', '--json']);
    expect(scan.code, scan.stderr).toBe(0);
    // The first scan compares the two pictures SharePoint shows with the Exchange photos at 64 px:
    // the listing's one page, one batch of photo metadata and one batch of the two small photos.
    const firstScan = JSON.parse(scan.stdout) as {
      scan: { graphRequests: number };
      users: { upn: string; state: string }[];
    };
    expect(firstScan.users.filter((u) => u.state === 'in_step').map((u) => u.upn)).toEqual(
      expect.arrayContaining(['a.b@contoso.com', 'carl@contoso.com']),
    );
    expect(firstScan.scan.graphRequests).toBe(3);
    expect(closeTo(await shown('a.b@contoso.com'), RED)).toBe(true);

    const first = await connect.m365(['sync', 'a_b@contoso.com']);
    expect(first.stdout, first.stderr).toMatch(/^a_b@contoso\.com: pushed /m);
    expect(closeTo(await shown('a_b@contoso.com'), BLUE)).toBe(true);
    expect(closeTo(await shown('a.b@contoso.com'), RED)).toBe(true);

    await photo('a.b@contoso.com', GREEN);
    const second = await connect.m365(['sync', 'a.b@contoso.com']);
    expect(second.stdout, second.stderr).toMatch(/^a\.b@contoso\.com: pushed /m);
    expect(closeTo(await shown('a.b@contoso.com'), GREEN)).toBe(true);
    expect(closeTo(await shown('a_b@contoso.com'), BLUE)).toBe(true);

    // Both in step, each with their own picture, without reading a picture again.
    const again = await connect.m365(['scan', '--json']);
    const states = Object.fromEntries(
      (JSON.parse(again.stdout) as { users: { upn: string; state: string }[] }).users.map((u) => [u.upn, u.state]),
    );
    expect(states).toMatchObject({ 'a.b@contoso.com': 'in_step', 'a_b@contoso.com': 'in_step' });
  });

  it("leaves the other person's files alone when a push comes before any scan", async () => {
    // A photosync connected just now knows nobody: the file named after d_e's UPN is in the
    // library already, and d_e's profile does not show it, so it may be a twin's.
    const fresh = tenant.connect(await tenant.registerApp());
    const push = await fresh.m365(['sync', 'd_e@contoso.com']);
    expect(push.stdout, push.stderr).toMatch(/^d_e@contoso\.com: pushed /m);
    expect(closeTo(await shown('d_e@contoso.com'), BLUE)).toBe(true);
    expect(closeTo(await shown('d.e@contoso.com'), RED)).toBe(true);

    // d.e, pushed next, keeps the file their profile shows; d_e keeps theirs.
    await photo('d.e@contoso.com', GREEN);
    const next = await fresh.m365(['sync', 'd.e@contoso.com']);
    expect(next.stdout, next.stderr).toMatch(/^d\.e@contoso\.com: pushed /m);
    expect(closeTo(await shown('d.e@contoso.com'), GREEN)).toBe(true);
    expect(closeTo(await shown('d_e@contoso.com'), BLUE)).toBe(true);
  });
});
