import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { conflict } from '../errors.js';
import type { Database } from '../storage/database.js';
import { runBatched } from './batch.js';
import { THROTTLED_RETRY_MS } from './retry.js';
import { baselineFromComparison, decideTenantState, type TenantDecision } from './classify.js';
import { compareWithSharePoint, readSmallPhotos } from './compare.js';
import { mapLimit } from './concurrency.js';
import { noteThrottle, type M365Connection } from './connection.js';
import { describeError, isTenantError } from './errors.js';
import {
  exchangePhotoFrom,
  firstUsersPage,
  graphBatchSender,
  listUsersPage,
  mailboxNotSaid,
  photoMetadataRequest,
  USERS_PAGE_REQUEST_ID,
  usersPageFrom,
  usersPageRequest,
  type UsersPage,
} from './graph.js';
import type { ExchangePhoto, ProfilePicture, TenantState, TenantUser } from './model.js';
import {
  claimScan,
  finishPage,
  finishScan,
  getScan,
  recordUsersTotal,
  releaseScan,
  saveScanChunk,
  scanSummary,
  type Lease,
  type Scan,
  type ScanCosts,
} from './scans.js';
import { readProfilePicture } from './sharepoint.js';
import { getTenantUsers, usersDoneInScan, type ScannedUser, type TenantUserRecord } from './users.js';

// A scan reads every user of the tenant and decides their state, page by page of the Graph user
// listing (999 users), in slices of 100: the page's photo metadata in JSON batches of 20, each
// slice's profiles from SharePoint, a picture comparison only where nothing is known (the small
// Exchange photos it needs in batches of 20 too), then one
// commit of the slice with the scan's counters. The listing's next page travels in the same
// batches as the photo metadata (a batch holds any 20 requests), and the first page carries the
// number of users (`@odata.count`): besides the batches, a scan makes one Graph request of its own.
// Interrupted anywhere, it continues at its page, skipping the users already written.
// A user it cannot read (a request still failing, or still throttled, after its retries) keeps the
// state an earlier scan found and is counted as unread, so the scan's summary says it is incomplete.

export interface ScanProgress {
  done: number;
  total: number | null;
  /** Time spent waiting for throttling so far, in ms. */
  throttledMs: number;
}

export interface ScanOptions {
  /** Who works on the scan (a process); default: host, process id and a random part. */
  holder?: string;
  leaseMs?: number;
  sliceSize?: number;
  /** Graph batches in flight at once. */
  batchConcurrency?: number;
  /** SharePoint profile reads at once. */
  sharePointConcurrency?: number;
  /** Picture comparisons at once. */
  compareConcurrency?: number;
  onProgress?: (progress: ScanProgress) => void;
  /** Once this process holds the scan's lease (a new scan, or an interrupted one taken up). */
  onClaimed?: (claimed: { scan: Scan; resumed: boolean }) => void;
  /**
   * Ends the scan at its next commit (a slice of users or a page), with what it read so far kept
   * and its lease given up, so the next scan in any process takes it up at once (ScanStoppedError).
   */
  signal?: AbortSignal;
}

/** A scan ended by its signal (the server stopping): unfinished, its lease free, resumed by the next. */
export class ScanStoppedError extends Error {
  constructor() {
    super('The scan was stopped before the end; the next scan takes it up where it stopped.');
    this.name = 'ScanStoppedError';
  }
}

export interface ScanReport {
  scan: Scan;
  resumed: boolean;
  summary: Partial<Record<TenantState, number>>;
  /** What this run cost (a resumed scan's earlier part is in `scan`). */
  graphRequests: number;
  sharePointRequests: number;
  imageBytes: number;
  /** The users this run could not read, and why (the scan's `usersUnread` counts a resumed scan's earlier part too). */
  unread: { upn: string; reason: string }[];
}

export async function scanTenant(
  connection: M365Connection,
  db: Kysely<Database>,
  options: ScanOptions = {},
): Promise<ScanReport> {
  const { clock, http, settings, requests } = connection;
  const holder = options.holder ?? `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const leaseMs = options.leaseMs ?? 10 * 60_000;
  const lease = (): Lease => ({ holder, now: clock.now(), leaseMs });
  const before = { graph: requests.graph, sharePoint: requests.mysite + requests.admin };
  let imageBytes = 0;
  const unread: ScanReport['unread'] = [];

  // The total comes with the listing's first page.
  const claim = await claimScan(db, lease(), async () => null);
  if (claim.kind === 'busy') {
    throw conflict(
      `Another process is scanning the tenant (scan ${claim.scan.id}, started ${new Date(claim.scan.startedAt).toISOString()}, ` +
        `${claim.scan.usersDone} users done); it carries on there.`,
      'm365_scan_busy',
    );
  }
  const scan = claim.scan;
  options.onClaimed?.({ scan, resumed: claim.resumed });
  let done = scan.usersDone;
  let total = scan.usersTotal;
  const progress = () => options.onProgress?.({ done, total, throttledMs: connection.throttled.totalMs });
  progress();

  // Graph requests and throttling go into the scan at each commit, as they came since the last.
  const { throttled } = connection;
  let counted = { graph: before.graph, throttledWaits: throttled.count, throttledMs: throttled.totalMs };
  const costsSinceLastCommit = (chunkImageBytes: number): ScanCosts => {
    const costs = {
      graphRequests: requests.graph - counted.graph,
      imageBytes: chunkImageBytes,
      throttledWaits: throttled.count - counted.throttledWaits,
      throttledMs: throttled.totalMs - counted.throttledMs,
    };
    counted = { graph: requests.graph, throttledWaits: throttled.count, throttledMs: throttled.totalMs };
    return costs;
  };
  const sliceSize = options.sliceSize ?? 100;
  const stopIfAsked = () => {
    if (options.signal?.aborted) throw new ScanStoppedError();
  };

  try {
    stopIfAsked();
    let link = scan.pageLink ?? firstUsersPage(settings.graphUrl);
    let resumedLink = scan.pageLink !== null;
    /** The page at `link` when it came in the previous page's batches. */
    let prefetched: UsersPage | undefined;
    for (;;) {
      let page = prefetched;
      prefetched = undefined;
      if (!page) {
        try {
          page = await listUsersPage(http, link);
        } catch (error) {
          if (!isTenantError(error) || error.problem !== 'unexpected') throw error;
          if (resumedLink) {
            // A page link kept from an earlier run may have expired; the users already written are
            // skipped anyway, so starting the listing again loses nothing.
            connection.log.warn(
              `The saved page of the user listing is no longer valid (${describeError(error)}); listing from the start.`,
            );
            link = firstUsersPage(settings.graphUrl);
            resumedLink = false;
            continue;
          }
          if (link === firstUsersPage(settings.graphUrl)) {
            // A tenant that refuses the count (an advanced query; Azure AD B2C has none) is listed
            // without it: only the progress bar's total is lost.
            connection.log.warn(`Graph refused the user count (${describeError(error)}); listing without it.`);
            link = firstUsersPage(settings.graphUrl, false);
            continue;
          }
          throw error;
        }
      }
      resumedLink = false;
      if (page.count !== null && page.count !== total) {
        total = page.count;
        await recordUsersTotal(db, scan.id, lease(), total);
        progress();
      }
      const written = await usersDoneInScan(
        db,
        scan.id,
        page.users.map((u) => u.id),
      );
      const todo = page.users.filter((u) => !written.has(u.id));
      // The page's photo metadata first, in full batches of 20 across the whole page (per slice,
      // each slice's last batch would go out part-empty: 5 % more Graph requests), with the next
      // page of the listing in one of them.
      // A push of one of these users that starts from now on reads the tenant after this scan does.
      const readAt = clock.now();
      const read = await readExchangePhotos(connection, todo, page.nextLink, options);
      prefetched = read.nextPage;
      for (let i = 0; i < todo.length; i += sliceSize) {
        const slice = todo.slice(i, i + sliceSize);
        const result = await scanSlice(connection, db, slice, read.photos, readAt, options);
        imageBytes += result.imageBytes;
        await saveScanChunk(db, scan.id, lease(), result.users, costsSinceLastCommit(result.imageBytes));
        for (const scanned of result.users) {
          if (scanned.unread !== undefined) unread.push({ upn: scanned.user.upn, reason: scanned.unread });
        }
        done += slice.length;
        progress();
        stopIfAsked();
      }
      await finishPage(db, scan.id, lease(), page.nextLink, costsSinceLastCommit(0));
      if (!page.nextLink) break;
      stopIfAsked();
      link = page.nextLink;
    }
    await finishScan(db, scan.id, lease(), { status: 'done' });
  } catch (error) {
    await releaseScan(db, scan.id, holder).catch(() => undefined);
    throw error;
  }
  return {
    scan: (await getScan(db, scan.id)) ?? scan,
    resumed: claim.resumed,
    summary: await scanSummary(db, scan.id),
    graphRequests: requests.graph - before.graph,
    sharePointRequests: requests.mysite + requests.admin - before.sharePoint,
    imageBytes,
    unread,
  };
}

interface SliceResult {
  users: ScannedUser[];
  imageBytes: number;
}

/**
 * Each user's Exchange photo metadata, in JSON batches of 20, and the listing's page at `nextLink`
 * as one more request in them. `nextPage` is undefined when that page could not come this way (a
 * link on another host, or no usable answer after the retries): the scan then asks for it alone.
 */
async function readExchangePhotos(
  connection: M365Connection,
  users: readonly TenantUser[],
  nextLink: string | null,
  options: ScanOptions,
): Promise<{ photos: Map<string, ExchangePhoto>; nextPage: UsersPage | undefined }> {
  const { clock, http, settings } = connection;
  // Users the listing says have no Exchange mailbox are never asked for a photo: Graph would
  // answer with their Entra ID photo, which the sites must never take.
  // Nor are those it did not say about (mailboxNotSaid).
  const asked = users.filter((u) => u.hasMailbox === true);
  const pageRequest = nextLink === null ? undefined : usersPageRequest(settings.graphUrl, nextLink);
  const batch = await runBatched(
    [...(pageRequest ? [pageRequest] : []), ...asked.map((u) => photoMetadataRequest(u.id))],
    graphBatchSender(http, settings.graphUrl, clock.now),
    {
      clock,
      concurrency: options.batchConcurrency ?? 4,
      maxAttempts: 8,
      throttledForMs: THROTTLED_RETRY_MS,
      onThrottled: (ms) => noteThrottle(connection.throttled, ms, clock.now()),
    },
  );
  let nextPage: UsersPage | undefined;
  const listed = batch.results.get(USERS_PAGE_REQUEST_ID);
  if (listed?.kind === 'answered') {
    try {
      nextPage = usersPageFrom(listed.response.status, listed.response.body);
    } catch (error) {
      connection.log.warn(`The next page of the user listing came back unusable in a batch (${describeError(error)}).`);
    }
  }
  const photos = new Map<string, ExchangePhoto>(
    users.map((u) => [
      u.id,
      u.hasMailbox === false
        ? { kind: 'no_mailbox' }
        : u.hasMailbox === null
          ? mailboxNotSaid
          : exchangePhotoFrom(batch.results.get(u.id)),
    ]),
  );
  return { photos, nextPage };
}

/** Reads the profiles of one slice of users and decides their states; nothing is written here. */
async function scanSlice(
  connection: M365Connection,
  db: Kysely<Database>,
  users: readonly TenantUser[],
  photos: ReadonlyMap<string, ExchangePhoto>,
  readAt: number,
  options: ScanOptions,
): Promise<SliceResult> {
  const { http, settings } = connection;
  const stored = await getTenantUsers(
    db,
    users.map((u) => u.id),
  );

  const profiles = await mapLimit(users, options.sharePointConcurrency ?? 8, async (user): Promise<ProfilePicture> => {
    const photo = photos.get(user.id)!;
    // No mailbox decides the state alone; SharePoint is not asked.
    if (photo.kind === 'no_mailbox') return { kind: 'none' };
    try {
      return await readProfilePicture(http, settings, user.upn);
    } catch (error) {
      return { kind: 'error', message: describeError(error) };
    }
  });

  // Decided from what was read where possible; the rest need the pictures compared, and their
  // small Exchange photos are read together, in batches.
  const decisions = users.map((user, index) => {
    const record = stored.get(user.id);
    const inputs = {
      hasMailbox: user.hasMailbox,
      photo: photos.get(user.id)!,
      profile: profiles[index]!,
      baseline: record?.baseline,
      failing: failingOf(record),
    };
    return { inputs, decision: decideTenantState(inputs) };
  });
  const undecided = users.filter((_, index) => decisions[index]!.decision.kind !== 'decided');
  const small = await readSmallPhotos(
    connection,
    undecided.map((u) => u.id),
    options.batchConcurrency ?? 4,
  );

  let imageBytes = 0;
  const scanned = await mapLimit(
    [...users.keys()],
    options.compareConcurrency ?? 4,
    async (index): Promise<ScannedUser> => {
      const user = users[index]!;
      const { inputs, decision: first } = decisions[index]!;
      const { photo, profile } = inputs;
      const record = stored.get(user.id);
      if (first.kind === 'decided') {
        const read = { user, photo, profile, state: first.state, code: first.code, reason: first.reason, readAt };
        return orEarlierState(read, readFailure(user, photo, profile), record);
      }
      const outcome = await compareWithSharePoint(connection, user, profile, small.get(user.id));
      imageBytes += outcome.imageBytes;
      const decision: TenantDecision = decideTenantState({ ...inputs, comparison: outcome.comparison });
      const state = decision.kind === 'decided' ? decision.state : 'unknown';
      const code = decision.kind === 'decided' ? decision.code : 'not_comparable';
      const reason = `${decision.reason}${outcome.detail ? ` (${outcome.detail})` : ''}`;
      const baseline = baselineFromComparison(photo, profile, outcome.comparison);
      const read = { user, photo, profile, state, code, reason, readAt, ...(baseline ? { baseline } : {}) };
      return orEarlierState(
        read,
        outcome.unread
          ? `The pictures could not be read to compare them: ${outcome.detail ?? 'no reason given'}`
          : undefined,
        record,
      );
    },
  );
  return { users: scanned, imageBytes };
}

function failingOf(record: TenantUserRecord | undefined): { since: number; error: string } | undefined {
  if (record?.failingSince === null || record?.failingSince === undefined) return undefined;
  return { since: record.failingSince, error: record.lastError ?? 'The last push failed.' };
}

/**
 * Why this user could not be read this time, if they could not; a user whose mailbox Graph did not
 * name was never asked. A lasting refusal (a 4xx: an access policy, a profile SharePoint refuses)
 * is no failure to read again but what the tenant answers: the user is decided on it (unknown, with
 * the reason), and the scan is not the less complete for it.
 */
function readFailure(user: TenantUser, photo: ExchangePhoto, profile: ProfilePicture): string | undefined {
  if (photo.kind === 'error' && !photo.lasting && user.hasMailbox === true)
    return `Exchange photo could not be read: ${photo.message}`;
  if (profile.kind === 'error' && !profile.lasting) return `SharePoint profile could not be read: ${profile.message}`;
  return undefined;
}

/**
 * A user the scan could not read keeps the state an earlier scan found, and what it read then: a
 * failed read tells nothing new, and "unknown" would hide a user known to be out of step from
 * "Sync all out of step" until a scan reads them again. Only a user with no earlier verdict is
 * unknown, saying why.
 */
function orEarlierState(
  read: ScannedUser,
  failure: string | undefined,
  record: TenantUserRecord | undefined,
): ScannedUser {
  if (failure === undefined) return read;
  const state = record?.state;
  const code = record?.stateReasonCode;
  const reason = record?.stateReason;
  if (!state || state === 'unknown' || !code || !reason) return { ...read, unread: failure };
  const notRead = { kind: 'error', message: failure } as const;
  return {
    user: read.user,
    photo: notRead,
    profile: notRead,
    state,
    code,
    reason,
    readAt: read.readAt,
    unread: failure,
  };
}
