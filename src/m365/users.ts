import { isExpression } from 'kysely';
import type { Db } from '../storage/database.js';
import type { Baseline, ExchangePhoto, ProfilePicture, TenantReason, TenantState, TenantUser } from './model.js';
import { profileFingerprint, TENANT_REASONS } from './model.js';
import { accountFileStem, pictureFileStem } from './sharepoint.js';

// The tenant's users as photosync last saw them (m365_users): what a scan read and decided, and
// the baseline that lets the next scan decide without pictures.

export interface ScannedUser {
  user: TenantUser;
  photo: ExchangePhoto;
  profile: ProfilePicture;
  state: TenantState;
  code: TenantReason;
  reason: string;
  /** A verdict found by comparing the pictures in this scan. */
  baseline?: Baseline;
  /**
   * Why the scan could not read this user (Graph or SharePoint failed, or kept throttling, past
   * every retry). Such a user keeps the state an earlier scan found, when there is one.
   */
  unread?: string;
  /**
   * When the scan began reading this user from the tenant. A push recorded since (it started
   * later) saw the tenant after the scan did: its state, baseline and picture are kept.
   */
  readAt?: number;
}

export interface TenantUserRecord extends TenantUser {
  state: TenantState | null;
  /** The English sentence, with any technical detail. */
  stateReason: string | null;
  /** The same reason as a code the console words in the reader's language; null for rows older than codes. */
  stateReasonCode: TenantReason | null;
  stateSince: number | null;
  exchangeEtag: string | null;
  pictureUrl: string | null;
  pictureTimestamp: string | null;
  baseline: Baseline | undefined;
  lastAttemptAt: number | null;
  lastOutcome: string | null;
  failingSince: number | null;
  failedEtag: string | null;
  lastError: string | null;
  goneAt: number | null;
}

/** The columns a scan writes for one user (the baseline only when the scan found a verdict). */
function scannedValues(scanId: string, scanned: ScannedUser, now: number) {
  const { user, photo, profile } = scanned;
  return {
    id: user.id,
    upn: user.upn,
    upn_stem: accountFileStem(user.upn),
    display_name: user.displayName,
    has_mailbox: user.hasMailbox === null ? null : user.hasMailbox ? 1 : 0,
    account_enabled: user.accountEnabled ? 1 : 0,
    seen_scan_id: scanId,
    gone_at: null,
    state: scanned.state,
    state_reason: scanned.reason,
    state_reason_code: scanned.code,
    state_at: now,
    // Read errors keep what an earlier scan read (NULL here, coalesced below).
    exchange_etag: photo.kind === 'photo' ? photo.etag : photo.kind === 'error' ? null : '',
    profile_fingerprint: profile.kind === 'error' ? null : profileFingerprint(profile),
    picture_timestamp: profile.kind === 'profile' ? profile.timestamp : null,
    picture_url: profile.kind === 'profile' ? profile.pictureUrl : null,
    picture_stem: profile.kind === 'profile' ? pictureFileStem(profile.pictureUrl) : null,
    ...(scanned.baseline
      ? {
          baseline_etag: scanned.baseline.etag,
          baseline_profile: scanned.baseline.profile,
          baseline_verdict: scanned.baseline.verdict,
          baseline_source: scanned.baseline.source,
          baseline_at: now,
        }
      : {}),
  };
}

/** The columns a push records too: a scan's reading older than the push's leaves them as the push wrote them. */
const PUSHED_COLUMNS = [
  'state',
  'state_reason',
  'state_reason_code',
  'state_at',
  'exchange_etag',
  'profile_fingerprint',
  'picture_timestamp',
  'picture_url',
  'picture_stem',
  'baseline_etag',
  'baseline_profile',
  'baseline_verdict',
  'baseline_source',
  'baseline_at',
] as const;

/**
 * Writes one scanned user; `state_at` keeps its time while the state stays the same. A push of the
 * user that started after the scan read them (`readAt`) is newer than the scan's reading: its
 * state, baseline and picture stay, and the scan writes only who the user is and that it saw them.
 */
export async function saveScannedUser(db: Db, scanId: string, scanned: ScannedUser, now: number): Promise<void> {
  const values = scannedValues(scanId, scanned, now);
  const { id: _id, ...changes } = values;
  const { readAt } = scanned;
  await db
    .insertInto('m365_users')
    .values(values)
    .onConflict((oc) =>
      oc.column('id').doUpdateSet((eb) => {
        const scannedSet = {
          ...changes,
          state_at: eb
            .case()
            .when('m365_users.state', '=', eb.ref('excluded.state'))
            .then(eb.ref('m365_users.state_at'))
            .else(eb.ref('excluded.state_at'))
            .end(),
          exchange_etag: eb.fn.coalesce('excluded.exchange_etag', 'm365_users.exchange_etag'),
          profile_fingerprint: eb.fn.coalesce('excluded.profile_fingerprint', 'm365_users.profile_fingerprint'),
          picture_timestamp: eb.fn.coalesce('excluded.picture_timestamp', 'm365_users.picture_timestamp'),
          picture_url: eb.fn.coalesce('excluded.picture_url', 'm365_users.picture_url'),
          picture_stem: eb
            .case()
            .when('excluded.picture_url', 'is', null)
            .then(eb.ref('m365_users.picture_stem'))
            .else(eb.ref('excluded.picture_stem'))
            .end(),
        };
        if (readAt === undefined) return scannedSet;
        const pushedSince = eb.and([
          eb('m365_users.last_attempt_at', 'is not', null),
          eb('m365_users.last_attempt_at', '>=', readAt),
        ]);
        const set: Record<string, unknown> = { ...scannedSet };
        for (const column of PUSHED_COLUMNS) {
          if (!(column in scannedSet)) continue;
          const scannedValue = scannedSet[column as keyof typeof scannedSet];
          set[column] = eb
            .case()
            .when(pushedSince)
            .then(eb.ref(`m365_users.${column}`))
            .else(isExpression(scannedValue) ? scannedValue : eb.val(scannedValue))
            .end();
        }
        return set as typeof scannedSet;
      }),
    )
    .execute();
}

/** Of these users, the ones this scan has already written (a resumed scan skips them). */
export async function usersDoneInScan(db: Db, scanId: string, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .selectFrom('m365_users')
    .select('id')
    .where('seen_scan_id', '=', scanId)
    .where('id', 'in', ids)
    .execute();
  return new Set(rows.map((r) => r.id));
}

/** Users a finished scan did not see have left the tenant (deleted or moved): they are kept as gone. */
export async function markUnseenUsersGone(db: Db, scanId: string, now: number): Promise<number> {
  const result = await db
    .updateTable('m365_users')
    .set({ gone_at: now })
    .where((eb) => eb.or([eb('seen_scan_id', 'is', null), eb('seen_scan_id', '!=', scanId)]))
    .where('gone_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

const USER_COLUMNS = [
  'id',
  'upn',
  'display_name',
  'has_mailbox',
  'account_enabled',
  'state',
  'state_reason',
  'state_reason_code',
  'state_at',
  'exchange_etag',
  'picture_url',
  'picture_timestamp',
  'baseline_etag',
  'baseline_profile',
  'baseline_verdict',
  'baseline_source',
  'last_attempt_at',
  'last_outcome',
  'failing_since',
  'failed_etag',
  'last_error',
  'gone_at',
] as const;

const usersQuery = (db: Db) => db.selectFrom('m365_users').select(USER_COLUMNS);
type UserRow = Awaited<ReturnType<ReturnType<typeof usersQuery>['execute']>>[number];

function toRecord(row: UserRow): TenantUserRecord {
  const baseline =
    row.baseline_etag !== null && row.baseline_profile !== null && row.baseline_verdict && row.baseline_source
      ? {
          etag: row.baseline_etag,
          profile: row.baseline_profile,
          verdict: row.baseline_verdict as Baseline['verdict'],
          source: row.baseline_source as Baseline['source'],
        }
      : undefined;
  return {
    id: row.id,
    upn: row.upn,
    displayName: row.display_name,
    accountEnabled: row.account_enabled === 1,
    hasMailbox: row.has_mailbox === null ? null : row.has_mailbox === 1,
    state: row.state as TenantState | null,
    stateReason: row.state_reason,
    stateReasonCode: TENANT_REASONS.includes(row.state_reason_code as TenantReason)
      ? (row.state_reason_code as TenantReason)
      : null,
    stateSince: row.state_at,
    exchangeEtag: row.exchange_etag,
    pictureUrl: row.picture_url,
    pictureTimestamp: row.picture_timestamp,
    baseline,
    lastAttemptAt: row.last_attempt_at,
    lastOutcome: row.last_outcome,
    failingSince: row.failing_since,
    failedEtag: row.failed_etag,
    lastError: row.last_error,
    goneAt: row.gone_at,
  };
}

/** The stored users with these ids (the baselines and failures a scan decides with). */
export async function getTenantUsers(db: Db, ids: readonly string[]): Promise<Map<string, TenantUserRecord>> {
  if (ids.length === 0) return new Map();
  const rows = await usersQuery(db).where('id', 'in', ids).execute();
  return new Map(rows.map((row) => [row.id, toRecord(row)]));
}

/** One user by object id or UPN (case-insensitive), among those still in the tenant. */
export async function findTenantUser(db: Db, idOrUpn: string): Promise<TenantUserRecord | undefined> {
  const key = idOrUpn.trim().toLowerCase();
  const row = await usersQuery(db)
    .where((eb) => eb.or([eb('id', '=', key), eb('upn', '=', key)]))
    .where('gone_at', 'is', null)
    .executeTakeFirst();
  return row && toRecord(row);
}

/** Users still in the tenant, by UPN, optionally only those in some states. */
export async function listTenantUsers(db: Db, states?: readonly TenantState[]): Promise<TenantUserRecord[]> {
  let query = usersQuery(db).where('gone_at', 'is', null);
  if (states) query = query.where('state', 'in', states);
  const rows = await query.orderBy('upn').execute();
  return rows.map(toRecord);
}

/** Makes sure a user looked up directly (not yet scanned) has a row, keeping whatever a scan wrote. */
export async function ensureTenantUser(db: Db, user: TenantUser): Promise<void> {
  const identity = {
    upn: user.upn,
    upn_stem: accountFileStem(user.upn),
    display_name: user.displayName,
    has_mailbox: user.hasMailbox === null ? null : user.hasMailbox ? 1 : 0,
    account_enabled: user.accountEnabled ? 1 : 0,
  };
  await db
    .insertInto('m365_users')
    .values({ id: user.id, ...identity })
    .onConflict((oc) => oc.column('id').doUpdateSet(identity))
    .execute();
}

/**
 * A user who just signed in with their Microsoft 365 account: made known if no scan has seen them
 * yet (their mailbox unknown until a scan or a push reads it, named as the ID token names them
 * until then), and no longer gone, since the tenant just vouched for them.
 */
export async function rememberSignedInUser(
  db: Db,
  user: { id: string; upn: string; displayName: string },
): Promise<TenantUserRecord> {
  // A user photosync knows already keeps the UPN and name Graph gave (by a scan or a push's
  // lookup): the ID token's preferred_username may be an e-mail address or a phone number instead.
  // Someone new is named by the token until a push or a scan asks Graph.
  const vouched = { gone_at: null, account_enabled: 1 };
  await db
    .insertInto('m365_users')
    .values({
      id: user.id,
      upn: user.upn,
      upn_stem: accountFileStem(user.upn),
      display_name: user.displayName,
      ...vouched,
      has_mailbox: null,
    })
    .onConflict((oc) => oc.column('id').doUpdateSet(vouched))
    .execute();
  const row = await usersQuery(db).where('id', '=', user.id).executeTakeFirstOrThrow();
  return toRecord(row);
}

/**
 * Whether a user other than `userId` has picture files by this name (jane_contoso_com): the name
 * their UPN gives, or the file their profile showed when photosync last read it.
 */
export async function fileStemInUse(db: Db, userId: string, stem: string): Promise<boolean> {
  const row = await db
    .selectFrom('m365_users')
    .select('id')
    .where('id', '!=', userId)
    .where((eb) => eb.or([eb('picture_stem', '=', stem), eb('upn_stem', '=', stem)]))
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}
