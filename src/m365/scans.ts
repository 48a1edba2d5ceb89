import { randomUUID } from 'node:crypto';
import type { ExpressionBuilder, Kysely } from 'kysely';
import type { Database, Db } from '../storage/database.js';
import { holderIsGone } from '../storage/user-lock.js';
import type { TenantState } from './model.js';
import { markUnseenUsersGone, saveScannedUser, type ScannedUser } from './users.js';

// A scan's persisted progress (m365_scans): the page of the Graph user listing it works on and
// what it has done. Every user written carries the scan's id, so a scan interrupted anywhere
// (kill -9 included) continues where it stopped: the page is read again and the users already
// written are skipped. One process works on a scan at a time, holding a lease it renews.

export type ScanStatus = 'running' | 'done' | 'failed';

export interface Scan {
  id: string;
  startedAt: number;
  finishedAt: number | null;
  status: ScanStatus;
  /** The Graph URL of the page being worked on; null = the first page. */
  pageLink: string | null;
  pagesDone: number;
  usersDone: number;
  usersTotal: number | null;
  graphRequests: number;
  imageBytes: number;
  /** Users this scan could not read: they keep the state an earlier scan found. */
  usersUnread: number;
  /** Times the tenant throttled this scan, and how long it kept the scan waiting in all. */
  throttledWaits: number;
  throttledMs: number;
  error: string | null;
}

const SCAN_COLUMNS = [
  'id',
  'started_at',
  'finished_at',
  'status',
  'page_link',
  'pages_done',
  'users_done',
  'users_total',
  'graph_requests',
  'image_bytes',
  'users_unread',
  'throttled_waits',
  'throttled_ms',
  'error',
] as const;

const scansQuery = (db: Db) => db.selectFrom('m365_scans').select(SCAN_COLUMNS);
type ScanRow = Awaited<ReturnType<ReturnType<typeof scansQuery>['execute']>>[number];

function toScan(row: ScanRow): Scan {
  return {
    id: row.id,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    status: row.status as ScanStatus,
    pageLink: row.page_link,
    pagesDone: row.pages_done,
    usersDone: row.users_done,
    usersTotal: row.users_total,
    graphRequests: row.graph_requests,
    imageBytes: Number(row.image_bytes),
    usersUnread: row.users_unread,
    throttledWaits: row.throttled_waits,
    throttledMs: Number(row.throttled_ms),
    error: row.error,
  };
}

export async function getScan(db: Db, id: string): Promise<Scan | undefined> {
  const row = await scansQuery(db).where('id', '=', id).executeTakeFirst();
  return row && toScan(row);
}

export async function latestScan(db: Db): Promise<Scan | undefined> {
  const row = await scansQuery(db).orderBy('started_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
  return row && toScan(row);
}

/** Whether a scan has ever listed the whole tenant (one finished): until then photosync knows only some of its users. */
export async function tenantListed(db: Db): Promise<boolean> {
  const row = await db.selectFrom('m365_scans').select('id').where('status', '=', 'done').limit(1).executeTakeFirst();
  return row !== undefined;
}

export interface Lease {
  holder: string;
  now: number;
  leaseMs: number;
}

export type ClaimResult = { kind: 'claimed'; scan: Scan; resumed: boolean } | { kind: 'busy'; scan: Scan };

/**
 * Takes the unfinished scan over when its lease ran out (its process stopped), or starts a new
 * one. A scan whose holder is still working is reported busy, never run twice.
 */
export async function claimScan(
  db: Kysely<Database>,
  lease: Lease,
  usersTotal: () => Promise<number | null>,
): Promise<ClaimResult> {
  const running = await scansQuery(db)
    .select('holder')
    .where('status', '=', 'running')
    .orderBy('started_at', 'desc')
    .executeTakeFirst();
  if (running) {
    // A holder whose process on this machine is gone (kill -9, a crash) gives its scan up at once.
    const gone = running.holder !== null && holderIsGone(running.holder);
    const taken = await db
      .updateTable('m365_scans')
      .set({ holder: lease.holder, lease_until: lease.now + lease.leaseMs })
      .where('id', '=', running.id)
      .where('status', '=', 'running')
      .where((eb) =>
        eb.or([
          eb('holder', 'is', null),
          eb('lease_until', 'is', null),
          eb('lease_until', '<', lease.now),
          eb('holder', '=', lease.holder),
          ...(gone ? [eb('holder', '=', running.holder)] : []),
        ]),
      )
      .executeTakeFirst();
    return Number(taken.numUpdatedRows) === 1
      ? { kind: 'claimed', scan: toScan(running), resumed: true }
      : { kind: 'busy', scan: toScan(running) };
  }
  const row = {
    id: randomUUID(),
    started_at: lease.now,
    finished_at: null,
    status: 'running',
    page_link: null,
    users_total: await usersTotal(),
    error: null,
    holder: lease.holder,
    lease_until: lease.now + lease.leaseMs,
  };
  try {
    await db.insertInto('m365_scans').values(row).execute();
  } catch (error) {
    // Another process started one a moment ago (the one-running index refused this one).
    const other = await scansQuery(db).where('status', '=', 'running').executeTakeFirst();
    if (other) return { kind: 'busy', scan: toScan(other) };
    throw error;
  }
  return { kind: 'claimed', scan: (await getScan(db, row.id))!, resumed: false };
}

/** An update of the scan that applies only while this holder runs it. */
function heldScan(db: Db, scanId: string, holder: string) {
  return db
    .updateTable('m365_scans')
    .where('id', '=', scanId)
    .where('holder', '=', holder)
    .where('status', '=', 'running');
}

export class LeaseLostError extends Error {
  constructor() {
    super('Another process took this scan over (this one was too slow to renew its lease); it continues there.');
    this.name = 'LeaseLostError';
  }
}

/** What one chunk of a page cost, counted into the scan. */
export interface ScanCosts {
  graphRequests: number;
  imageBytes: number;
  /** The tenant's throttling meanwhile: waits, and the time they kept the scan waiting. */
  throttledWaits: number;
  throttledMs: number;
}

/** The counters a chunk adds to. */
const costsSet = (costs: ScanCosts) => (eb: ExpressionBuilder<Database, 'm365_scans'>) => ({
  graph_requests: eb('graph_requests', '+', costs.graphRequests),
  image_bytes: eb('image_bytes', '+', costs.imageBytes),
  throttled_waits: eb('throttled_waits', '+', costs.throttledWaits),
  throttled_ms: eb('throttled_ms', '+', costs.throttledMs),
});

/**
 * Commits a chunk of scanned users together with the scan's counters and a renewed lease. If the
 * lease is no longer ours, nothing is written.
 */
export async function saveScanChunk(
  db: Kysely<Database>,
  scanId: string,
  lease: Lease,
  users: readonly ScannedUser[],
  costs: ScanCosts,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const renewed = await heldScan(trx, scanId, lease.holder)
      .set((eb) => ({
        users_done: eb('users_done', '+', users.length),
        users_unread: eb('users_unread', '+', users.filter((u) => u.unread !== undefined).length),
        ...costsSet(costs)(eb),
        lease_until: lease.now + lease.leaseMs,
      }))
      .executeTakeFirst();
    if (Number(renewed.numUpdatedRows) !== 1) throw new LeaseLostError();
    for (const user of users) await saveScannedUser(trx, scanId, user, lease.now);
  });
}

/** The tenant's number of users, as the listing said it, for the progress bar. */
export async function recordUsersTotal(
  db: Kysely<Database>,
  scanId: string,
  lease: Lease,
  usersTotal: number,
): Promise<void> {
  const set = await heldScan(db, scanId, lease.holder)
    .set({ users_total: usersTotal, lease_until: lease.now + lease.leaseMs })
    .executeTakeFirst();
  if (Number(set.numUpdatedRows) !== 1) throw new LeaseLostError();
}

/** Moves the scan's cursor past a finished page (null = that was the last page). */
export async function finishPage(
  db: Kysely<Database>,
  scanId: string,
  lease: Lease,
  nextLink: string | null,
  costs: ScanCosts,
): Promise<void> {
  const moved = await heldScan(db, scanId, lease.holder)
    .set((eb) => ({
      page_link: nextLink,
      pages_done: eb('pages_done', '+', 1),
      ...costsSet(costs)(eb),
      lease_until: lease.now + lease.leaseMs,
    }))
    .executeTakeFirst();
  if (Number(moved.numUpdatedRows) !== 1) throw new LeaseLostError();
}

/** Ends the scan; a finished one also marks the users it did not see as gone, in the same commit. */
export async function finishScan(
  db: Kysely<Database>,
  scanId: string,
  lease: Lease,
  outcome: { status: 'done' } | { status: 'failed'; error: string },
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const ended = await heldScan(trx, scanId, lease.holder)
      .set({
        status: outcome.status,
        finished_at: lease.now,
        error: outcome.status === 'failed' ? outcome.error : null,
        holder: null,
        lease_until: null,
      })
      .executeTakeFirst();
    if (Number(ended.numUpdatedRows) !== 1) throw new LeaseLostError();
    if (outcome.status === 'done') await markUnseenUsersGone(trx, scanId, lease.now);
  });
}

/** Users per state as this scan left them. */
export async function scanSummary(db: Db, scanId: string): Promise<Partial<Record<TenantState, number>>> {
  const rows = await db
    .selectFrom('m365_users')
    .select(['state', (eb) => eb.fn.countAll<number>().as('count')])
    .where('seen_scan_id', '=', scanId)
    .groupBy('state')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.state ?? 'unknown', Number(r.count)]));
}

/**
 * Lets go of a scan that stopped on an error, leaving it unfinished: the next scan (from this
 * process or any other) continues it at once instead of waiting for the lease to run out.
 */
export async function releaseScan(db: Kysely<Database>, scanId: string, holder: string): Promise<void> {
  await heldScan(db, scanId, holder).set({ holder: null, lease_until: null }).execute();
}
