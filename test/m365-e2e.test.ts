import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../src/admin/audit.js';
import { checkLines, startM365Tenant, type ConnectMode, type M365Tenant } from './support/m365-tenant.js';
import { openTestServices } from './support/services.js';

// Connect mode end to end: `photosync serve` over TLS with its demo organisation plays the tenant
// (Entra ID, Graph, SharePoint); a second photosync, spawned as an administrator runs it, reads and
// writes it with only the PHOTOSYNC_M365_* settings. The tenant's own view (`photosync status` on
// its store, its REST API, userphoto.aspx and its /metrics) is the truth the results are held to.

interface ScannedUser {
  upn: string;
  state: string;
}

const statesOf = (stdout: string): Record<string, string> => {
  const users = (JSON.parse(stdout) as { users: ScannedUser[] }).users;
  return Object.fromEntries(users.map((u) => [u.upn, u.state]));
};

describe('connect mode against photosync playing the tenant', () => {
  let tenant: M365Tenant;
  let connect: ConnectMode;
  beforeAll(async () => {
    tenant = await startM365Tenant();
    connect = tenant.connect(await tenant.registerApp());
  }, 90_000);
  afterAll(async () => {
    await tenant?.stop();
  });

  it('checks every part ✓ with the three permissions', { timeout: 60_000 }, async () => {
    const result = await connect.m365(['check']);
    expect(result.stdout.trim().split('\n')).toHaveLength(10);
    expect(checkLines(result.stdout)['SharePoint answers']).toMatch(/^✓ .*the root site https:\/\/localhost:/);
    expect(result.stdout).not.toMatch(/^[✗–]/m);
    expect(result.code).toBe(0);
  });

  it(
    'says ✗ with the fix for a missing permission, a wrong URL and a revoked certificate',
    { timeout: 120_000 },
    async () => {
      // The three apps, and then the six checks that use them, each independent of the others:
      // side by side, as separate administrators' machines would run them.
      const [withoutSites, withoutGraph, app] = await Promise.all([
        tenant.registerApp({ permissions: ['User.Read.All', 'ProfilePhoto.Read.All'] }),
        tenant.registerApp({ permissions: ['Sites.FullControl.All'] }),
        tenant.registerApp(),
      ]);
      // Each address the tenant does not have (its own host under another name): the check that
      // uses it says ✗ and names that one setting; the others stay ✓.
      const wrong = tenant.url.replace('localhost', '127.0.0.1');
      const wrongUrls = [
        ['PHOTOSYNC_M365_MYSITE_URL', 'token for SharePoint'],
        ['PHOTOSYNC_M365_ADMIN_URL', 'token for the SharePoint admin site'],
        ['PHOTOSYNC_M365_GRAPH_URL', 'token for Microsoft Graph'],
        ['PHOTOSYNC_M365_SHAREPOINT_URL', 'SharePoint answers'],
      ] as const;
      const [noSites, noGraph, ...urls] = await Promise.all([
        tenant.connect(withoutSites).m365(['check']),
        tenant.connect(withoutGraph).m365(['check']),
        ...wrongUrls.map(([setting]) => tenant.connect(app, { [setting]: wrong }).m365(['check'])),
      ]);

      const sites = checkLines(noSites!.stdout);
      expect(sites['can write to User Photos']).toMatch(
        /^✗ .*403.*Grant the app the SharePoint application permission Sites\.FullControl\.All/,
      );
      expect(sites['can list users']).toMatch(/^✓/);

      const graph = checkLines(noGraph!.stdout);
      expect(graph['can list users']).toMatch(/^✗ .*403.*(User\.Read\.All|permission)/);

      for (const [i, [setting, check]] of wrongUrls.entries()) {
        const url = urls[i]!;
        expect(url.code, url.stdout + url.stderr).toBe(1);
        const lines = checkLines(url.stdout);
        expect(lines[check], url.stdout).toMatch(new RegExp(`^✗ .*(check|set) ${setting}\\b`, 'i'));
        const failed = Object.entries(lines).filter(([, line]) => line.startsWith('✗'));
        expect(
          failed.map(([name]) => name),
          url.stdout,
        ).toEqual([check]);
      }

      // Named in hex, as Entra's portal shows it.
      const hex = Buffer.from(app.thumbprint, 'base64url').toString('hex');
      const revoked = await tenant.cli(['apps', 'remove-certificate', app.clientId, hex]);
      expect(revoked.code, revoked.stderr).toBe(0);
      const afterRevoke = await tenant.connect(app).m365(['check']);
      const certificate = checkLines(afterRevoke.stdout);
      expect(certificate['token for Microsoft Graph']).toMatch(/^✗ .*certificate/i);
      expect(certificate['token for Microsoft Graph']).toMatch(new RegExp(hex.slice(0, 16), 'i'));
    },
  );

  it(
    'scans every user into the state the tenant itself knows, then pushes one as SharePoint would',
    { timeout: 180_000 },
    async () => {
      // SharePoint already took kalle's photo (the tenant's own sync): the first scan compares pictures.
      expect((await tenant.cli(['sync', 'kalle@contoso.com'])).code).toBe(0);
      const truth = Object.fromEntries(
        (JSON.parse((await tenant.cli(['status', '--json'])).stdout) as ScannedUser[]).map((u) => [u.upn, u.state]),
      );
      const first = await connect.m365(['scan', '--json']);
      expect(first.code).toBe(0);
      expect(statesOf(first.stdout)).toEqual(truth);
      expect(truth).toMatchObject({
        'jane@contoso.com': 'never_synced',
        'kalle@contoso.com': 'in_step',
        'lee@contoso.com': 'no_mailbox',
        'megan@contoso.com': 'no_photo',
        'nestor@contoso.com': 'no_photo',
      });

      const push = await connect.m365(['sync', 'jane@contoso.com']);
      expect(push.stdout).toMatch(/^jane@contoso\.com: pushed /);
      expect(push.code).toBe(0);
      // In the connect-mode server's audit log, by the command line, as the console's tenant sync is.
      const own = await openTestServices({
        dialect: 'sqlite',
        dataDir: connect.dataDir,
        databaseUrl: undefined,
        schema: undefined,
        env: {},
        drop: async () => {},
      });
      try {
        const { entries } = await listAudit(own.database.db);
        expect(entries).toHaveLength(1);
        expect(entries[0]).toMatchObject({
          byCommandLine: true,
          action: 'operator_sync',
          detail: { tenant: true, results: [{ upn: 'jane@contoso.com', outcome: 'synced' }] },
        });
      } finally {
        await own.close();
      }

      // The tenant's profile, read as anyone reads it there, and its userphoto.aspx.
      const token = (await tenant.cli(['token', 'create', 'admin@contoso.com'])).stdout.trim().split('\n').pop()!;
      const account = encodeURIComponent("'i:0#.f|membership|jane@contoso.com'");
      const profile = (await (
        await fetch(`${tenant.url}/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)?@v=${account}`, {
          headers: { authorization: `Bearer ${token}`, accept: 'application/json;odata=nometadata' },
        })
      ).json()) as { UserProfileProperties: { Key: string; Value: string }[] };
      const property = (key: string) => profile.UserProfileProperties.find((p) => p.Key === key)?.Value;
      expect(property('PictureURL')).toMatch(/\/User%20Photos\/Profile%20Pictures\/jane_contoso_com_MThumb\.jpg/);
      expect(property('SPS-PicturePlaceholderState')).toBe('0');
      expect(property('SPS-PictureExchangeSyncState')).toBe('1');
      // Whole seconds since 0001-01-01, as SharePoint Online keeps it (63… until the year 2033).
      expect(property('SPS-PictureTimestamp')).toMatch(/^63\d{9}$/);

      const served = await fetch(`${tenant.url}/_layouts/15/userphoto.aspx?size=L&accountname=jane@contoso.com`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(served.status).toBe(200);
      const exchange = await fetch(`${tenant.url}/v1.0/users/jane@contoso.com/photo/$value`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const pixels = async (bytes: Buffer) => sharp(bytes).resize(32, 32).removeAlpha().raw().toBuffer();
      const [site, mail] = await Promise.all([
        pixels(Buffer.from(await served.arrayBuffer())),
        pixels(Buffer.from(await exchange.arrayBuffer())),
      ]);
      let difference = 0;
      for (let i = 0; i < site.length; i++) difference += Math.abs(site[i]! - mail[i]!);
      expect(difference / site.length).toBeLessThan(8);

      // An unchanged rescan reads no picture at all: the tenant served no image bytes meanwhile.
      const before = await tenant.metric('photosync_photo_bytes_read_total');
      const again = await connect.m365(['scan', '--json']);
      expect(await tenant.metric('photosync_photo_bytes_read_total')).toBe(before);
      expect(statesOf(again.stdout)).toMatchObject({ 'jane@contoso.com': 'in_step', 'kalle@contoso.com': 'in_step' });

      // A new Exchange photo: changed since last sync, still without reading a picture.
      const newPhoto = path.join(tenant.store.dataDir, 'new-jane.jpg');
      fs.writeFileSync(
        newPhoto,
        await sharp({ create: { width: 200, height: 200, channels: 3, background: '#204080' } })
          .jpeg()
          .toBuffer(),
      );
      expect((await tenant.cli(['photo', 'set', 'jane@contoso.com', newPhoto])).code).toBe(0);
      const changed = await connect.m365(['scan', '--json']);
      expect(statesOf(changed.stdout)['jane@contoso.com']).toBe('changed');
    },
  );
});

describe('connect mode against a tenant that throttles', () => {
  let tenant: M365Tenant;
  let connect: ConnectMode;
  const extra = 240;
  beforeAll(async () => {
    tenant = await startM365Tenant({ env: { PHOTOSYNC_GRAPH_APP_LIMIT: '60/1s' } });
    const csv = path.join(tenant.store.dataDir, 'people.csv');
    fs.writeFileSync(
      csv,
      Array.from(
        { length: extra },
        (_, i) => `person${String(i).padStart(3, '0')}@contoso.com,Person ${i},,true,false`,
      ).join('\n'),
    );
    expect((await tenant.cli(['users', 'import', csv])).code).toBe(0);
    connect = tenant.connect(await tenant.registerApp());
  }, 120_000);
  afterAll(async () => {
    await tenant?.stop();
  });

  it('slows down on 429, survives kill -9 mid-scan, resumes and loses nobody', { timeout: 240_000 }, async () => {
    const scan = connect.spawnM365(['scan']);
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (/Scanning the tenant [4-9]\d%/.test(scan.output())) {
          clearInterval(timer);
          scan.child.kill('SIGKILL');
          resolve();
        } else if (scan.child.exitCode !== null) {
          clearInterval(timer);
          reject(new Error(`the scan ended before it could be killed:\n${scan.output()}`));
        }
      }, 20);
    });
    expect(await scan.exited).toBeNull();

    const resumed = await connect.m365(['scan', '--json']);
    expect(resumed.code).toBe(0);
    const body = JSON.parse(resumed.stdout) as { resumed: boolean; users: ScannedUser[] };
    expect(body.resumed).toBe(true);
    const states = statesOf(resumed.stdout);
    expect(Object.keys(states)).toHaveLength(6 + extra);
    expect(Object.values(states).filter((s) => s === 'unknown')).toEqual([]);
    for (let i = 0; i < extra; i++) expect(states[`person${String(i).padStart(3, '0')}@contoso.com`]).toBe('no_photo');
    expect(states).toMatchObject({ 'jane@contoso.com': 'never_synced', 'lee@contoso.com': 'no_mailbox' });
    expect(await tenant.metric('photosync_graph_throttled_total')).toBeGreaterThan(0);
  });
});

describe('connect mode against a tenant of more than one listing page', () => {
  let tenant: M365Tenant;
  let connect: ConnectMode;
  // The demo organisation's 6 users (lee without a mailbox) and 1,193 more with one: the listing
  // (999 users a page, by UPN) is the 6 and 993 of them, then the last 200.
  const extra = 1193;
  beforeAll(async () => {
    tenant = await startM365Tenant();
    const csv = path.join(tenant.store.dataDir, 'people.csv');
    fs.writeFileSync(
      csv,
      Array.from(
        { length: extra },
        (_, i) => `person${String(i).padStart(4, '0')}@contoso.com,Person ${i},,true,false`,
      ).join('\n'),
    );
    expect((await tenant.cli(['users', 'import', csv])).code).toBe(0);
    connect = tenant.connect(await tenant.registerApp());
  }, 120_000);
  afterAll(async () => {
    await tenant?.stop();
  });

  it(
    'counts the Graph requests of an unchanged rescan: the first page alone, everything else in batches of 20',
    {
      timeout: 240_000,
    },
    async () => {
      const first = await connect.m365(['scan', '--json']);
      expect(first.code, first.stderr).toBe(0);
      expect(Object.keys(statesOf(first.stdout))).toHaveLength(6 + extra);

      const again = await connect.m365(['scan', '--json']);
      expect(again.code, again.stderr).toBe(0);
      const body = JSON.parse(again.stdout) as {
        resumed: boolean;
        scan: { graphRequests: number; usersTotal: number };
      };
      expect(body.resumed).toBe(false);
      // The total for the progress bar came with the first page (@odata.count), not from /users/$count.
      expect(body.scan.usersTotal).toBe(6 + extra);
      expect(statesOf(again.stdout)).toMatchObject({
        'jane@contoso.com': 'never_synced',
        'lee@contoso.com': 'no_mailbox',
      });
      // Page 1 on its own (1); its 998 users with a mailbox and page 2 in ceil(999 / 20) = 50 batches;
      // page 2's 200 users in 10 more: 61 requests for 1,199 users. /users/$count and a request of
      // its own for page 2 would make 63.
      const page1Mailboxes = 5 + 993;
      const page2Mailboxes = extra - 993;
      expect(body.scan.graphRequests).toBe(1 + Math.ceil((page1Mailboxes + 1) / 20) + Math.ceil(page2Mailboxes / 20));
      expect(body.scan.graphRequests).toBe(61);
    },
  );
});
