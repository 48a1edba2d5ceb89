import { CompiledQuery, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { listPushAttempts, recordPushAttempt } from '../src/m365/history.js';
import type { ExchangePhoto, ProfilePicture, TenantState, TenantUser } from '../src/m365/model.js';
import { profileFingerprint } from '../src/m365/model.js';
import {
  claimScan,
  finishPage,
  finishScan,
  getScan,
  LeaseLostError,
  saveScanChunk,
  scanSummary,
  type Lease,
} from '../src/m365/scans.js';
import {
  ensureTenantUser,
  findTenantUser,
  getTenantUsers,
  listTenantUsers,
  usersDoneInScan,
  type ScannedUser,
} from '../src/m365/users.js';
import { listTenantUsersPage, tenantPageKeysQuery } from '../src/m365/tenant-view.js';
import { describeEachDialect, useTestServices } from './support/services.js';

const LEASE_MS = 60_000;
const NO_COSTS = { graphRequests: 0, imageBytes: 0, throttledWaits: 0, throttledMs: 0 };
const PICTURE: ProfilePicture = {
  kind: 'profile',
  pictureUrl: 'https://contoso-my.sharepoint.com/User%20Photos/Profile%20Pictures/u_MThumb.jpg',
  placeholderState: 0,
  exchangeSyncState: 1,
  timestamp: '63783110969',
};

let run = 0;
/** Users of a fresh tenant per test, so tests on one database do not see each other's rows. */
function tenantUsers(count: number): TenantUser[] {
  run += 1;
  return Array.from({ length: count }, (_, i) => ({
    id: `0000${run}-${i}`,
    upn: `user${i}.run${run}@contoso.com`,
    displayName: `User ${i}`,
    accountEnabled: true,
    hasMailbox: true,
  }));
}

function scanned(user: TenantUser, state: TenantState = 'in_step', photo?: ExchangePhoto): ScannedUser {
  return {
    user,
    photo: photo ?? { kind: 'photo', etag: `"${user.id}"`, side: 648 },
    profile: PICTURE,
    state,
    code: 'same_as_before',
    reason: `decided ${state}`,
  };
}

describeEachDialect('connect-mode storage', (dialect) => {
  const context = useTestServices(dialect);
  const db = () => context.services.database.db;
  const lease = (holder: string, now: number): Lease => ({ holder, now, leaseMs: LEASE_MS });

  /** Finishes whatever scan an earlier test left running, so each test starts with none. */
  async function noScanRunning() {
    const claim = await claimScan(db(), lease('cleanup', Date.now() + 10 * LEASE_MS), async () => null);
    if (claim.kind === 'claimed')
      await finishScan(db(), claim.scan.id, lease('cleanup', Date.now() + 10 * LEASE_MS), {
        status: 'failed',
        error: 'cleanup',
      });
  }

  it('resumes a scan interrupted at 60 % from its page, skipping the users it already wrote', async () => {
    await noScanRunning();
    const [page1, page2] = [tenantUsers(5), tenantUsers(5)];
    const t0 = Date.now();
    const first = await claimScan(db(), lease('process-a', t0), async () => 10);
    expect(first).toMatchObject({ kind: 'claimed', resumed: false, scan: { usersTotal: 10, pageLink: null } });
    const scanId = first.kind === 'claimed' ? first.scan.id : '';

    await saveScanChunk(
      db(),
      scanId,
      lease('process-a', t0),
      page1.slice(0, 3).map((u) => scanned(u)),
      { ...NO_COSTS, graphRequests: 1, throttledWaits: 2, throttledMs: 3000 },
    );
    await saveScanChunk(
      db(),
      scanId,
      lease('process-a', t0),
      // The first of these could not be read this time: it keeps an earlier state, and counts as unread.
      page1
        .slice(3)
        .map((u, i) => ({ ...scanned(u, 'changed'), ...(i === 0 ? { unread: 'Graph answered 503' } : {}) })),
      NO_COSTS,
    );
    await finishPage(db(), scanId, lease('process-a', t0), 'https://graph/v1.0/users?$skiptoken=2', {
      ...NO_COSTS,
      graphRequests: 1,
      throttledWaits: 1,
      throttledMs: 1000,
    });
    await saveScanChunk(db(), scanId, lease('process-a', t0), [scanned(page2[0]!)], {
      ...NO_COSTS,
      graphRequests: 1,
      imageBytes: 1234,
    });
    // process-a dies here (kill -9): 6 of 10 users done, nothing else happens.

    // While its lease lasts, nobody else may run the scan.
    expect(await claimScan(db(), lease('process-b', t0 + 1000), async () => 99)).toMatchObject({ kind: 'busy' });

    const t1 = t0 + LEASE_MS + 1;
    const resumed = await claimScan(db(), lease('process-b', t1), async () => 99);
    expect(resumed).toMatchObject({
      kind: 'claimed',
      resumed: true,
      scan: {
        id: scanId,
        pageLink: 'https://graph/v1.0/users?$skiptoken=2',
        pagesDone: 1,
        usersDone: 6,
        usersTotal: 10,
        graphRequests: 3,
        imageBytes: 1234,
        usersUnread: 1,
        throttledWaits: 3,
        throttledMs: 4000,
      },
    });
    const done = await usersDoneInScan(
      db(),
      scanId,
      page2.map((u) => u.id),
    );
    expect([...done]).toEqual([page2[0]!.id]);

    // The process that lost its lease can no longer write into the scan.
    await expect(saveScanChunk(db(), scanId, lease('process-a', t1), [scanned(page2[1]!)], NO_COSTS)).rejects.toThrow(
      LeaseLostError,
    );
    expect(await usersDoneInScan(db(), scanId, [page2[1]!.id])).toEqual(new Set());

    await saveScanChunk(
      db(),
      scanId,
      lease('process-b', t1),
      page2.slice(1).map((u) => scanned(u, 'never_synced')),
      NO_COSTS,
    );
    await finishPage(db(), scanId, lease('process-b', t1), null, NO_COSTS);
    await finishScan(db(), scanId, lease('process-b', t1), { status: 'done' });

    expect(await getScan(db(), scanId)).toMatchObject({
      status: 'done',
      usersDone: 10,
      pagesDone: 2,
      pageLink: null,
      finishedAt: t1,
    });
    expect(await scanSummary(db(), scanId)).toEqual({ in_step: 4, changed: 2, never_synced: 4 });
  });

  it('lets exactly one of two processes start a scan at the same moment', async () => {
    await noScanRunning();
    const now = Date.now();
    const results = await Promise.all([
      claimScan(db(), lease('process-a', now), async () => null),
      claimScan(db(), lease('process-b', now), async () => null),
    ]);
    expect(results.map((r) => r.kind).sort()).toEqual(['busy', 'claimed']);
    expect(new Set(results.map((r) => r.scan.id)).size).toBe(1);
  });

  it('marks the users a finished scan did not see as gone', async () => {
    await noScanRunning();
    const [stays, leaves] = tenantUsers(2) as [TenantUser, TenantUser];
    const now = Date.now();
    const old = await claimScan(db(), lease('a', now), async () => null);
    await saveScanChunk(db(), old.scan.id, lease('a', now), [scanned(stays), scanned(leaves)], NO_COSTS);
    await finishScan(db(), old.scan.id, lease('a', now), { status: 'done' });

    const next = await claimScan(db(), lease('a', now + 1), async () => null);
    await saveScanChunk(db(), next.scan.id, lease('a', now + 1), [scanned(stays)], NO_COSTS);
    await finishScan(db(), next.scan.id, lease('a', now + 1), { status: 'done' });

    expect(await findTenantUser(db(), leaves.upn)).toBeUndefined();
    expect((await findTenantUser(db(), stays.upn.toUpperCase()))?.id).toBe(stays.id);
    expect((await listTenantUsers(db())).some((u) => u.id === leaves.id)).toBe(false);
  });

  it('searches any part of a name or UPN through an index', async () => {
    await noScanRunning();
    run += 1;
    const person = (upn: string, displayName: string): TenantUser => ({
      id: `${upn}-id`,
      upn,
      displayName,
      accountEnabled: true,
      hasMailbox: true,
    });
    const kalle = person(`kalle.k.run${run}@tartu.example`, 'Kalle Kask');
    const mari = person(`mari.run${run}@tartu.example`, 'Mari Maasikas');
    const now = Date.now();
    const claim = await claimScan(db(), lease('a', now), async () => null);
    await saveScanChunk(db(), claim.scan.id, lease('a', now), [scanned(kalle), scanned(mari)], NO_COSTS);
    await finishScan(db(), claim.scan.id, lease('a', now), { status: 'done' });

    const names = async (search: string) =>
      (await listTenantUsersPage(db(), { search, limit: 50 })).users.map((u) => u.displayName);
    expect(await names('Kask')).toEqual(['Kalle Kask']);
    expect(await names('ALLE K')).toEqual(['Kalle Kask']);
    expect(await names(`k.run${run}@tartu`)).toEqual(['Kalle Kask']);
    expect(await names(`run${run}@tartu.example`)).toEqual(['Kalle Kask', 'Mari Maasikas']);
    expect(await names('ka%k')).toEqual([]);
    // A cursor holding a control character names no UPN: refused, not sent to the database.
    await expect(listTenantUsersPage(db(), { after: 'a\u0000b', limit: 50 })).rejects.toMatchObject({
      status: 400,
      id: 'invalid_cursor',
    });
    expect(await names('"kask')).toEqual([]);
    // Under three characters: the start of a name or UPN.
    expect(await names('ka')).toEqual(['Kalle Kask']);
    expect(await names('as')).toEqual([]);
    // A renamed user is found by the new name only.
    await db().updateTable('m365_users').set({ display_name: 'Kalle Kuusk' }).where('id', '=', kalle.id).execute();
    expect(await names('Kask')).toEqual([]);
    expect(await names('kuusk')).toEqual(['Kalle Kuusk']);

    const compiled = tenantPageKeysQuery(db(), { search: 'kask', limit: 50 }).compile();
    if (dialect === 'sqlite') {
      const plan = await db().executeQuery<{ detail: string }>(
        CompiledQuery.raw(`explain query plan ${compiled.sql}`, [...compiled.parameters]),
      );
      expect(plan.rows.map((r) => r.detail).join('\n')).toMatch(/m365_user_search VIRTUAL TABLE INDEX/);
    } else {
      // A table this small is cheaper to scan; the question is whether the index can serve the search.
      const plan = await db()
        .transaction()
        .execute(async (trx) => {
          await sql`set local enable_seqscan = off`.execute(trx);
          const result = await trx.executeQuery<Record<string, unknown>>(
            CompiledQuery.raw(`explain ${compiled.sql}`, [...compiled.parameters]),
          );
          return result.rows.map((r) => String(r['QUERY PLAN'])).join('\n');
        });
      expect(plan).toMatch(/Bitmap Index Scan on m365_users_display_name_trgm/);
      expect(plan).toMatch(/Bitmap Index Scan on m365_users_upn_trgm/);
    }
  });

  it('keeps when a state began while it lasts, and what was read before a read error', async () => {
    await noScanRunning();
    const [user] = tenantUsers(1) as [TenantUser];
    const save = async (now: number, entry: ScannedUser) => {
      const claim = await claimScan(db(), lease('a', now), async () => null);
      await saveScanChunk(db(), claim.scan.id, lease('a', now), [entry], NO_COSTS);
      await finishScan(db(), claim.scan.id, lease('a', now), { status: 'done' });
    };
    const t0 = Date.now();
    await save(t0, scanned(user, 'changed'));
    await save(t0 + 10, {
      ...scanned(user, 'changed', { kind: 'error', message: '503' }),
      profile: { kind: 'error', message: '503' },
    });
    let record = (await getTenantUsers(db(), [user.id])).get(user.id)!;
    expect(record).toMatchObject({
      state: 'changed',
      stateSince: t0,
      exchangeEtag: `"${user.id}"`,
      pictureTimestamp: PICTURE.kind === 'profile' ? PICTURE.timestamp : '',
    });
    await save(t0 + 20, scanned(user, 'in_step'));
    record = (await getTenantUsers(db(), [user.id])).get(user.id)!;
    expect(record).toMatchObject({ state: 'in_step', stateSince: t0 + 20 });
  });

  it('leaves a push that started after the scan read the user as the push recorded it', async () => {
    await noScanRunning();
    const [user] = tenantUsers(1) as [TenantUser];
    const t0 = Date.now();
    // The scan reads the user at t0 (out of step); their push starts at t0 + 5 and records in step;
    // the scan's slice is written at t0 + 10, with what it read before the push.
    const claim = await claimScan(db(), lease('a', t0), async () => null);
    const baseline = { etag: '"E2"', profile: 'pushed profile', verdict: 'in_step' as const, source: 'push' as const };
    await ensureTenantUser(db(), user);
    await recordPushAttempt(
      db(),
      {
        userId: user.id,
        trigger: 'sharepoint_tile',
        outcome: 'synced',
        startedAt: t0 + 5,
        durationMs: 900,
        etagBefore: null,
        etagAfter: '"E2"',
        error: null,
      },
      null,
      { state: 'in_step', code: 'pushed', reason: 'pushed', baseline, pictureUrl: 'https://my/pushed_MThumb.jpg' },
    );
    await saveScanChunk(
      db(),
      claim.scan.id,
      lease('a', t0 + 10),
      [{ ...scanned(user, 'changed'), readAt: t0 }],
      NO_COSTS,
    );
    let record = (await findTenantUser(db(), user.id))!;
    expect(record).toMatchObject({
      state: 'in_step',
      stateSince: t0 + 5,
      baseline,
      pictureUrl: 'https://my/pushed_MThumb.jpg',
    });
    expect(record.displayName).toBe(user.displayName);
    expect(await usersDoneInScan(db(), claim.scan.id, [user.id])).toEqual(new Set([user.id]));
    await finishScan(db(), claim.scan.id, lease('a', t0 + 10), { status: 'done' });

    // The next scan reads them after the push: its reading is written.
    const next = await claimScan(db(), lease('a', t0 + 20), async () => null);
    await saveScanChunk(
      db(),
      next.scan.id,
      lease('a', t0 + 30),
      [{ ...scanned(user, 'changed'), readAt: t0 + 20 }],
      NO_COSTS,
    );
    record = (await findTenantUser(db(), user.id))!;
    expect(record).toMatchObject({ state: 'changed', stateSince: t0 + 30 });
    await finishScan(db(), next.scan.id, lease('a', t0 + 30), { status: 'done' });
  });

  it('keeps a history of pushes with the running failure and the baseline a push leaves', async () => {
    await noScanRunning();
    const [user] = tenantUsers(1) as [TenantUser];
    const now = Date.now();
    const claim = await claimScan(db(), lease('a', now), async () => null);
    await saveScanChunk(db(), claim.scan.id, lease('a', now), [scanned(user, 'changed')], NO_COSTS);
    await finishScan(db(), claim.scan.id, lease('a', now), { status: 'done' });

    const attempt = (startedAt: number, outcome: 'failed' | 'synced') => ({
      userId: user.id,
      trigger: 'admin' as const,
      outcome,
      startedAt,
      durationMs: 12.5,
      etagBefore: null,
      etagAfter: outcome === 'synced' ? '"E1"' : null,
      error: outcome === 'failed' ? 'SharePoint refused the upload (403): the app lacks Sites.FullControl.All.' : null,
    });
    await recordPushAttempt(db(), attempt(now + 1, 'failed'), '"E1"');
    await recordPushAttempt(db(), attempt(now + 2, 'failed'), '"E1"');
    let record = (await findTenantUser(db(), user.id))!;
    expect(record).toMatchObject({
      failingSince: now + 1,
      failedEtag: '"E1"',
      lastOutcome: 'failed',
      state: 'failing',
      stateSince: now + 1,
    });
    expect(record.lastError).toMatch(/Sites\.FullControl\.All/);

    const baseline = {
      etag: '"E1"',
      profile: profileFingerprint(PICTURE),
      verdict: 'in_step' as const,
      source: 'push' as const,
    };
    await recordPushAttempt(db(), attempt(now + 3, 'synced'), null, {
      state: 'in_step',
      code: 'pushed',
      reason: 'pushed',
      baseline,
    });
    record = (await findTenantUser(db(), user.id))!;
    expect(record).toMatchObject({
      failingSince: null,
      lastError: null,
      lastOutcome: 'synced',
      state: 'in_step',
      baseline,
    });

    const history = await listPushAttempts(db(), user.id);
    expect(history.map((h) => [h.startedAt, h.outcome])).toEqual([
      [now + 3, 'synced'],
      [now + 2, 'failed'],
      [now + 1, 'failed'],
    ]);
  });
});

describe('connect-mode storage helpers', () => {
  it('find nothing for no ids without asking the database', async () => {
    const nobody = {} as never;
    expect(await usersDoneInScan(nobody, 'scan', [])).toEqual(new Set());
    expect(await getTenantUsers(nobody, [])).toEqual(new Map());
  });
});

describeEachDialect('connect-mode scan takeover', (dialect) => {
  const context = useTestServices(dialect);

  it('takes a scan over at once when the process holding it on this machine is gone', async () => {
    const db = context.services.database.db;
    const { spawnSync } = await import('node:child_process');
    const { hostname } = await import('node:os');
    const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid;
    const now = Date.now();
    const first = await claimScan(db, { holder: `${hostname()}:${dead}:a`, now, leaseMs: LEASE_MS }, async () => null);
    expect(first.kind).toBe('claimed');
    // The lease has most of a minute to run, but its holder no longer exists.
    const taken = await claimScan(db, { holder: 'next', now: now + 1, leaseMs: LEASE_MS }, async () => null);
    expect(taken).toMatchObject({ kind: 'claimed', resumed: true, scan: { id: first.scan.id } });
    // The new holder's lease is live (and not host:pid): nobody else takes it.
    const alive = await claimScan(
      db,
      { holder: `${hostname()}:${process.pid}:b`, now: now + 2, leaseMs: LEASE_MS },
      async () => null,
    );
    expect(alive.kind).toBe('busy');
  });
});
