import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import type { M365Connection } from '../src/m365/connection.js';
import { decideTenantState } from '../src/m365/classify.js';
import { pushTenantUser } from '../src/m365/push.js';
import type { M365Settings } from '../src/m365/settings.js';
import type { TenantHttp } from '../src/m365/tenant-http.js';
import { ensureTenantUser, findTenantUser, rememberSignedInUser } from '../src/m365/users.js';
import { createLeaseLock } from '../src/storage/user-lock.js';
import { solidJpeg } from './support/factories.js';
import { useTestServices } from './support/services.js';

// A push decides what to do from the same facts a scan classifies: where the scan finds nothing
// out of step, a push finds nothing to do, and never leaves the user in a state the scan would not.

const settings = {
  mySiteUrl: 'https://contoso-my.sharepoint.com',
  adminUrl: 'https://contoso-admin.sharepoint.com',
  graphUrl: 'https://graph.microsoft.com',
} as M365Settings;

/**
 * Graph's answer to a push's look-up of a user by object id (`/users/{id}?$select=…`), for a
 * tenant whose users' ids are their UPNs and who have a mailbox; undefined for any other request.
 */
const lookedUp = (url: string) => {
  const id = /\/v1\.0\/users\/([^/?]+)\?\$select=/.exec(url)?.[1];
  if (id === undefined) return undefined;
  const upn = decodeURIComponent(id);
  const body = {
    id: upn,
    userPrincipalName: upn,
    displayName: upn,
    accountEnabled: true,
    provisionedPlans: [{ service: 'exchange', capabilityStatus: 'Enabled' }],
  };
  return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
};

/** A connection to a tenant whose HTTP is `http`, with a clock that never waits. */
const connectionOver = (http: TenantHttp) =>
  ({ settings, http, clock: { now: () => Date.now(), sleep: async () => {} } }) as unknown as M365Connection;

/** A tenant where the user has no Exchange photo and SharePoint has made no profile for them yet. */
const noPhotoNoProfile: TenantHttp = {
  async request(_resource, url) {
    const user = lookedUp(url);
    if (user) return user;
    const json = (body: unknown, status = 200) =>
      new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
    if (url.endsWith('/photo')) return json({ error: { code: 'ImageNotFound', message: 'No photo.' } }, 404);
    // GetPropertiesFor of someone without a profile: an answer without UserProfileProperties.
    if (url.includes('GetPropertiesFor')) return json({});
    return json({ 'odata.error': { message: { value: `not here: ${url}` } } }, 400);
  },
};

describe('a push and a scan agree', () => {
  const context = useTestServices('sqlite');

  it('no Exchange photo and no SharePoint profile: nothing to push (no photo), not a failure', async () => {
    const scanned = decideTenantState({
      hasMailbox: true,
      photo: { kind: 'none' },
      profile: { kind: 'none' },
      baseline: undefined,
      failing: undefined,
    });
    expect(scanned).toMatchObject({ kind: 'decided', state: 'no_photo' });

    const { db } = context.services.database;
    const upn = 'nestor@contoso.com';
    await ensureTenantUser(db, { id: upn, upn, displayName: upn, accountEnabled: true, hasMailbox: true });
    const connection = connectionOver(noPhotoNoProfile);
    const report = await pushTenantUser(
      connection,
      { db, lock: context.services.lock },
      (await findTenantUser(db, upn))!,
      {
        trigger: 'admin',
        sizes: context.services.syncSettings().renditionSizes,
      },
    );
    expect(report.outcome, report.error ?? '').toBe('no_photo');
    expect((await findTenantUser(db, upn))?.state).toBe('no_photo');
  });

  it('a push that cannot have the user’s lock in time answers busy, and the others in the run go on', async () => {
    // Another process pushes the same user (waiting on a Retry-After, say): this one gives up
    // waiting. The console and `m365 sync --all-out-of-step` push many users with mapLimit, so a
    // push that throws would end the whole run unreported (and the console's audit entry unwritten).
    const { db } = context.services.database;
    const upn = 'busy@contoso.com';
    await ensureTenantUser(db, { id: upn, upn, displayName: upn, accountEnabled: true, hasMailbox: true });
    const connection = connectionOver(noPhotoNoProfile);
    const elsewhere = createLeaseLock(db);
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let holding = () => {};
    const taken = new Promise<void>((resolve) => (holding = resolve));
    const other = elsewhere.run(`m365:${upn}`, async () => {
      holding();
      await held;
    });
    await taken;
    try {
      const report = await pushTenantUser(
        connection,
        { db, lock: createLeaseLock(db, { waitMs: 100 }) },
        (await findTenantUser(db, upn))!,
        { trigger: 'admin', sizes: context.services.syncSettings().renditionSizes },
      );
      expect(report).toMatchObject({ upn, outcome: 'busy', error: expect.stringMatching(/still running/) });
    } finally {
      release();
      await other;
    }
  });

  describe('a user known only from their sign-in (no scan has said whether they have a mailbox)', () => {
    /** A tenant whose Graph answers the user's photo with their Entra ID photo, as it does without a mailbox. */
    const tenant = (user: Record<string, unknown>) => {
      const asked: string[] = [];
      const http: TenantHttp = {
        async request(_resource, url, init) {
          asked.push(`${init?.method ?? 'GET'} ${url}`);
          const json = (body: unknown, status = 200) =>
            new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
          if (/\/v1\.0\/users\/[^/]+\?\$select=/.test(url)) return json(user);
          if (url.endsWith('/photo')) return json({ '@odata.mediaEtag': '"ENTRA"', width: 96, height: 96 });
          return json({ 'odata.error': { message: { value: `not expected: ${url}` } } }, 400);
        },
      };
      return { asked, http };
    };
    const pushOf = async (upn: string, http: TenantHttp) => {
      const { db } = context.services.database;
      const connection = connectionOver(http);
      const user = await rememberSignedInUser(db, { id: `id-${upn}`, upn, displayName: upn });
      expect(user.hasMailbox).toBeNull();
      return pushTenantUser(connection, { db, lock: context.services.lock }, user, {
        trigger: 'sharepoint_tile',
        sizes: context.services.syncSettings().renditionSizes,
      });
    };

    it('asks Graph for their plans first, and without an Exchange plan pushes nothing (the photo would be the Entra ID one)', async () => {
      const upn = 'entra-only@contoso.com';
      const { asked, http } = tenant({
        id: `id-${upn}`,
        userPrincipalName: upn,
        displayName: 'Entra Only',
        accountEnabled: true,
        provisionedPlans: [{ service: 'SharePoint', capabilityStatus: 'Enabled' }],
      });
      const report = await pushOf(upn, http);
      expect(report.outcome, report.error ?? '').toBe('no_mailbox');
      expect(asked).toHaveLength(1);
      expect(asked[0]).toMatch(/\/users\/[^/]+\?\$select=.*provisionedPlans/);
    });

    it('takes their UPN from Graph, where the ID token’s preferred_username named them otherwise, and keeps it at the next sign-in', async () => {
      const { db } = context.services.database;
      const id = 'id-jane-alias';
      const asked: string[] = [];
      const http: TenantHttp = {
        async request(_resource, url) {
          asked.push(decodeURIComponent(url));
          const json = (body: unknown, status = 200) =>
            new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
          if (/\/v1\.0\/users\/[^/]+\?\$select=/.test(url)) {
            return json({
              id,
              userPrincipalName: 'jdoe@contoso.com',
              displayName: 'Jane Doe',
              accountEnabled: true,
              provisionedPlans: [{ service: 'exchange', capabilityStatus: 'Enabled' }],
            });
          }
          if (url.endsWith('/photo')) return json({ error: { code: 'ImageNotFound', message: 'No photo.' } }, 404);
          if (url.includes('GetPropertiesFor')) return json({});
          return json({ 'odata.error': { message: { value: `not expected: ${url}` } } }, 400);
        },
      };
      const connection = connectionOver(http);
      const signedIn = await rememberSignedInUser(db, { id, upn: 'jane.doe@contoso.com', displayName: 'Jane' });
      const report = await pushTenantUser(connection, { db, lock: context.services.lock }, signedIn, {
        trigger: 'sharepoint_tile',
        sizes: context.services.syncSettings().renditionSizes,
      });
      expect(report.outcome, report.error ?? '').toBe('no_photo');
      expect(asked.find((url) => url.includes('GetPropertiesFor'))).toContain('i:0#.f|membership|jdoe@contoso.com');
      expect(await findTenantUser(db, id)).toMatchObject({ upn: 'jdoe@contoso.com', displayName: 'Jane Doe' });

      await rememberSignedInUser(db, { id, upn: 'jane.doe@contoso.com', displayName: 'Jane' });
      expect(await findTenantUser(db, id)).toMatchObject({ upn: 'jdoe@contoso.com', displayName: 'Jane Doe' });
    });

    it('one Graph no longer has is said to be gone from the tenant', async () => {
      const upn = 'gone@contoso.com';
      const asked: string[] = [];
      const http: TenantHttp = {
        async request(_resource, url) {
          asked.push(url);
          return new Response(JSON.stringify({ error: { code: 'Request_ResourceNotFound', message: 'Not found.' } }), {
            status: 404,
            headers: { 'content-type': 'application/json' },
          });
        },
      };
      const report = await pushOf(upn, http);
      expect(report.outcome).toBe('failed');
      expect(report.error).toContain(
        `(${upn}) is no longer in the tenant: Microsoft Graph has no user with their object id`,
      );
      expect(asked).toHaveLength(1);
      // Kept as gone, as a scan that no longer lists them keeps them, with the attempt in the history.
      const { db } = context.services.database;
      expect(await findTenantUser(db, upn)).toBeUndefined();
      const row = await db
        .selectFrom('m365_users')
        .select(['gone_at', 'state', 'last_outcome'])
        .where('upn', '=', upn)
        .executeTakeFirstOrThrow();
      expect(row).toMatchObject({ gone_at: expect.any(Number), state: null, last_outcome: 'failed' });
    });

    it('a 404 other than "no such user" (a wrong Graph URL) is a failure that leaves the user listed', async () => {
      const upn = 'wrong-url@contoso.com';
      const http: TenantHttp = {
        async request() {
          return new Response(JSON.stringify({ error: { code: 'BadRequest', message: 'Unsupported segment.' } }), {
            status: 404,
            headers: { 'content-type': 'application/json' },
          });
        },
      };
      const report = await pushOf(upn, http);
      expect(report.outcome).toBe('failed');
      expect(report.error).toMatch(/Graph answered 404 BadRequest/);
      expect(await findTenantUser(context.services.database.db, upn)).toBeDefined();
    });

    it('where Graph does not say, reads no photo and says why', async () => {
      const upn = 'unsaid@contoso.com';
      const { asked, http } = tenant({
        id: `id-${upn}`,
        userPrincipalName: upn,
        displayName: 'Unsaid',
        accountEnabled: true,
      });
      const report = await pushOf(upn, http);
      expect(report.outcome).toBe('failed');
      expect(report.error).toMatch(/did not say whether this user has an Exchange Online mailbox/);
      expect(asked.filter((request) => request.endsWith('/photo'))).toEqual([]);
    });
  });
});

describe('a push when Graph answers 404 for a reason other than "no photo"', () => {
  const context = useTestServices('sqlite');

  /** A tenant whose SharePoint shows the user's picture, and whose Graph answers the photo with `code`. */
  function tenant(status: number, code: string, writes: string[]): TenantHttp {
    return {
      async request(_resource, url, init) {
        const user = lookedUp(url);
        if (user) return user;
        const json = (body: unknown, answer = 200) =>
          new Response(JSON.stringify(body), { status: answer, headers: { 'content-type': 'application/json' } });
        if (init?.method === 'POST') {
          writes.push(url);
          return json({});
        }
        if (url.includes('/photo')) return json({ error: { code, message: 'Not here.' } }, status);
        if (url.includes('GetPropertiesFor')) {
          return json({
            UserProfileProperties: [
              { Key: 'PictureURL', Value: 'https://contoso-my.sharepoint.com/User Photos/x_MThumb.jpg' },
              { Key: 'SPS-PicturePlaceholderState', Value: '0' },
              { Key: 'SPS-PictureTimestamp', Value: '63890000000' },
            ],
          });
        }
        return json({ 'odata.error': { message: { value: `not here: ${url}` } } }, 400);
      },
    };
  }

  it.each([
    [404, 'ErrorNonExistentMailbox', 'no_mailbox'],
    [404, 'MailboxNotHostedInExchangeOnline', 'no_mailbox'],
    [404, 'ResourceNotFound', 'failed'],
    [404, 'Request_ResourceNotFound', 'failed'],
  ])('%i %s: %s, and the SharePoint picture is left shown', async (status, code, outcome) => {
    const { db } = context.services.database;
    const upn = `${code.toLowerCase()}@contoso.com`;
    await ensureTenantUser(db, { id: upn, upn, displayName: upn, accountEnabled: true, hasMailbox: true });
    const writes: string[] = [];
    const connection = connectionOver(tenant(status, code, writes));
    const report = await pushTenantUser(
      connection,
      { db, lock: context.services.lock },
      (await findTenantUser(db, upn))!,
      { trigger: 'admin', sizes: context.services.syncSettings().renditionSizes },
    );
    expect(report.outcome, report.error ?? '').toBe(outcome);
    expect(writes).toEqual([]);
  });
});

describe('a push whose database fails around it', () => {
  const context = useTestServices('sqlite');
  const connection = connectionOver(noPhotoNoProfile);

  it('reports failed when the lock cannot be taken for a reason other than waiting, instead of ending the run', async () => {
    const { db } = context.services.database;
    const upn = 'lockless@contoso.com';
    await ensureTenantUser(db, { id: upn, upn, displayName: upn, accountEnabled: true, hasMailbox: true });
    const broken = { run: () => Promise.reject(new Error('SQLITE_FULL: database or disk is full')) };
    const report = await pushTenantUser(connection, { db, lock: broken }, (await findTenantUser(db, upn))!, {
      trigger: 'admin',
      sizes: context.services.syncSettings().renditionSizes,
    });
    expect(report).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/could not start.*SQLITE_FULL/) });
  });

  it('reports what it did in SharePoint, and that it is not recorded, when its record cannot be written', async () => {
    const { db } = context.services.database;
    const upn = 'unrecorded@contoso.com';
    await ensureTenantUser(db, { id: upn, upn, displayName: upn, accountEnabled: true, hasMailbox: true });
    const user = (await findTenantUser(db, upn))!;
    await sql`alter table m365_push_attempts rename to m365_push_attempts_away`.execute(db);
    try {
      const report = await pushTenantUser(connection, { db, lock: context.services.lock }, user, {
        trigger: 'admin',
        sizes: context.services.syncSettings().renditionSizes,
      });
      expect(report).toMatchObject({ outcome: 'no_photo', error: expect.stringMatching(/could not record it/) });
    } finally {
      await sql`alter table m365_push_attempts_away rename to m365_push_attempts`.execute(db);
    }
  });
});

describe('two pushes of the same user at once', () => {
  const context = useTestServices('sqlite');

  /**
   * A tenant whose user has an Exchange photo SharePoint does not show yet, and whose profile
   * takes the properties written to it; every write is counted.
   */
  function tenant(jpeg: Buffer, writes: string[]): TenantHttp {
    const profile = new Map([
      ['PictureURL', ''],
      ['SPS-PicturePlaceholderState', '1'],
    ]);
    return {
      async request(_resource, url, init) {
        const user = lookedUp(url);
        if (user) return user;
        const json = (body: unknown, status = 200) =>
          new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
        if (init?.method === 'POST') {
          writes.push(url);
          if (url.endsWith('/SetSingleValueProfileProperty')) {
            const { propertyName, propertyValue } = JSON.parse(String(init.body)) as Record<string, string>;
            profile.set(propertyName!, propertyValue!);
          }
          return json({});
        }
        if (url.endsWith('/photo/$value')) return new Response(new Uint8Array(jpeg), { status: 200 });
        if (url.endsWith('/photo')) return json({ '@odata.mediaEtag': '"PHOTO-1"', width: 648, height: 648 });
        if (url.includes('GetPropertiesFor')) {
          return json({ UserProfileProperties: [...profile].map(([Key, Value]) => ({ Key, Value })) });
        }
        return json({ 'odata.error': { message: { value: `not here: ${url}` } } }, 400);
      },
    };
  }

  it('the one that waited for the other finds the user in step and writes nothing', async () => {
    const { db } = context.services.database;
    const upn = 'twice@contoso.com';
    await ensureTenantUser(db, { id: upn, upn, displayName: upn, accountEnabled: true, hasMailbox: true });
    const writes: string[] = [];
    const connection = connectionOver(tenant(await solidJpeg([200, 40, 40], 648), writes));
    // Both read the user before either has the lock, as two `m365 sync` runs or a double click do.
    const user = (await findTenantUser(db, upn))!;
    const options = { trigger: 'admin' as const, sizes: context.services.syncSettings().renditionSizes };
    const deps = { db, lock: context.services.tenantLock };
    const reports = await Promise.all([
      pushTenantUser(connection, deps, user, options),
      pushTenantUser(connection, deps, user, options),
    ]);
    expect(reports.map((report) => report.outcome).sort(), JSON.stringify(reports)).toEqual(['synced', 'unchanged']);
    expect(reports.find((report) => report.outcome === 'unchanged')?.etagBefore).toBe('"PHOTO-1"');
    // Three files and four profile properties, once.
    expect(writes).toHaveLength(7);
    const attempts = await db.selectFrom('m365_push_attempts').select('outcome').where('user_id', '=', upn).execute();
    expect(attempts.map((attempt) => attempt.outcome).sort()).toEqual(['synced', 'unchanged']);
  });
});
