import { PostgresAdapter, sql } from 'kysely';
import { invalidInput } from '../errors.js';
import type { Db } from '../storage/database.js';
import { ftsPhrase, likeAnywhere, MIN_SUBSTRING, searchText } from '../storage/search-text.js';
import { isOutOfStep, SYNC_STATES, type SyncStateName } from '../sync/state.js';
import { usersWithSyncTables } from '../sync/status.js';

// The admin console's users table: one indexed read of `admin_user_status` per page (keyset
// pagination, so page 2,000 costs what page 1 costs), then the page's few rows joined by key.

export const USER_SORTS = ['action', 'waiting', 'name', 'upn'] as const;
export type UserSort = (typeof USER_SORTS)[number];
export const MAX_PAGE = 200;

export interface UsersPageQuery {
  state?: SyncStateName | undefined;
  /** Any part of the display name or of the UPN, any case (the start only, under 3 characters). */
  search?: string | undefined;
  /**
   * action (the default): those a request to sync can help first, each group longest waiting
   * first; waiting: longest in its state first; name, upn: alphabetical.
   */
  sort?: UserSort | undefined;
  /** The `next` cursor of the previous page. */
  after?: string | undefined;
  limit?: number | undefined;
}

export interface UserRow {
  id: string;
  upn: string;
  displayName: string;
  /** False for a disabled account: they cannot sign in, and others see the placeholder. */
  enabled: boolean;
  state: SyncStateName;
  /** Since when the user has been in this state (epoch ms). */
  since: number;
  mailEtag: string | null;
  syncedEtag: string | null;
  /** Whether the sites show a picture (so the M rendition is worth showing). */
  sitePicture: boolean;
  pictureTimestamp: number | null;
  lastAttemptAt: number | null;
  lastOutcome: string | null;
  lastError: string | null;
}

export interface UsersPage {
  users: UserRow[];
  /** Cursor for the next page; null on the last one. */
  next: string | null;
}

type SortColumn = 'action_rank' | 'since' | 'search_name' | 'upn';
const SORT_COLUMNS: Record<UserSort, SortColumn[]> = {
  action: ['action_rank', 'since'],
  waiting: ['since'],
  name: ['search_name'],
  upn: ['upn'],
};
const NUMERIC: ReadonlySet<SortColumn> = new Set(['action_rank', 'since']);
type CursorValue = string | number;

const pageLimit = (query: UsersPageQuery) => Math.min(Math.max(query.limit ?? 50, 1), MAX_PAGE);

/**
 * SQLite's trigram index hands back every match, which are then sorted for the page: cheap for a
 * few thousand, slow when the search matches most of the organisation ("user" in 100,000 users).
 * Past this many matches a page is read in its own order instead, each row tested, which stops as
 * soon as the page is full (one row in a hundred or more matches, so about 100 rows a result).
 */
export const DENSE_MATCHES = 1000;

/** Whether the trigram index holds at least DENSE_MATCHES matches for `search` (SQLite; reads that many at most). */
async function matchesDensely(db: Db, search: string): Promise<boolean> {
  const { rows } = await sql<{ n: number }>`SELECT count(*) AS n FROM
    (SELECT rowid FROM admin_user_search WHERE admin_user_search MATCH ${ftsPhrase(search)} LIMIT ${DENSE_MATCHES})`.execute(
    db,
  );
  return Number(rows[0]?.n ?? 0) >= DENSE_MATCHES;
}

/**
 * The one statement that reads the status table for a page (exported so its plan can be checked).
 * `dense`: on SQLite, test each row in page order instead of asking the trigram index (see DENSE_MATCHES).
 */
export function pageKeysQuery(db: Db, query: UsersPageQuery, { dense = false }: { dense?: boolean } = {}) {
  const sort = query.sort ?? 'action';
  const columns = SORT_COLUMNS[sort];
  const after = query.after ? decodeCursor(query.after, sort) : undefined;
  const search = searchText(query.search);
  if (query.state !== undefined && !SYNC_STATES.includes(query.state)) {
    throw invalidInput(`"${String(query.state)}" is not a state; use one of ${SYNC_STATES.join(', ')}.`);
  }
  return db
    .selectFrom('admin_user_status')
    .select(['user_id', 'state', 'since', 'upn', 'search_name', 'action_rank'])
    .$if(query.state !== undefined, (q) => q.where('state', '=', query.state!))
    .$if(Boolean(search) && search!.length < MIN_SUBSTRING, (q) =>
      q.where((eb) =>
        eb.or([
          eb.and([eb('search_name', '>=', search!), eb('search_name', '<', `${search!}\u{10FFFF}`)]),
          eb.and([eb('upn', '>=', search!), eb('upn', '<', `${search!}\u{10FFFF}`)]),
        ]),
      ),
    )
    .$if(Boolean(search) && search!.length >= MIN_SUBSTRING, (q) =>
      q.where((eb) =>
        db.getExecutor().adapter instanceof PostgresAdapter
          ? eb.or([eb('search_name', 'like', likeAnywhere(search!)), eb('upn', 'like', likeAnywhere(search!))])
          : dense
            ? sql<boolean>`(search_name LIKE ${likeAnywhere(search!)} ESCAPE '\\' OR upn LIKE ${likeAnywhere(search!)} ESCAPE '\\')`
            : eb(
                'user_id',
                'in',
                sql<string>`(SELECT user_id FROM admin_user_search_text WHERE id IN
                (SELECT rowid FROM admin_user_search WHERE admin_user_search MATCH ${ftsPhrase(search!)}))`,
              ),
      ),
    )
    .$if(after !== undefined, (q) =>
      q.where((eb) => {
        const [a, b, c] = after! as never[];
        return columns.length === 2
          ? eb(eb.refTuple(columns[0]!, columns[1]!, 'user_id'), '>', eb.tuple(a!, b!, c!))
          : eb(eb.refTuple(columns[0]!, 'user_id'), '>', eb.tuple(a!, b!));
      }),
    )
    .$call((q) => columns.reduce((ordered, column) => ordered.orderBy(column), q))
    .orderBy('user_id')
    .limit(pageLimit(query) + 1);
}

/** A page of users, filtered, searched and sorted; every form of it reads through an index. */
export async function listUsersPage(db: Db, query: UsersPageQuery): Promise<UsersPage> {
  const sort = query.sort ?? 'action';
  const limit = pageLimit(query);
  const search = searchText(query.search);
  const dense =
    search.length >= MIN_SUBSTRING &&
    !(db.getExecutor().adapter instanceof PostgresAdapter) &&
    // SQLite's LIKE folds the case of ASCII letters only, where the trigram index folds all.
    /^[\x20-\x7e]+$/.test(search) &&
    (await matchesDensely(db, search));
  const keys = await pageKeysQuery(db, query, { dense }).execute();
  const page = keys.slice(0, limit);
  const ids = page.map((k) => k.user_id);
  const details =
    ids.length === 0
      ? []
      : await usersWithSyncTables(db)
          .select([
            'u.id',
            'u.display_name',
            'u.enabled',
            'm.etag as mail_etag',
            'p.synced_etag',
            'p.placeholder_state',
            'p.picture_timestamp',
            's.last_attempt_at',
            's.last_outcome',
            's.last_error',
          ])
          .where('u.id', 'in', ids)
          .execute();
  const byId = new Map(details.map((d) => [d.id, d]));
  const users = page.map((key): UserRow => {
    const d = byId.get(key.user_id);
    return {
      id: key.user_id,
      upn: key.upn,
      displayName: d?.display_name ?? key.upn,
      enabled: d ? d.enabled === 1 : true,
      state: key.state as SyncStateName,
      since: key.since,
      mailEtag: d?.mail_etag ?? null,
      syncedEtag: d?.synced_etag ?? null,
      sitePicture: d?.placeholder_state === 0,
      pictureTimestamp: d?.picture_timestamp ?? null,
      lastAttemptAt: d?.last_attempt_at ?? null,
      lastOutcome: d?.last_outcome ?? null,
      lastError: d?.last_error ?? null,
    };
  });
  const last = page.at(-1);
  const next =
    keys.length > limit && last
      ? encodeCursor([...SORT_COLUMNS[sort].map((c) => (NUMERIC.has(c) ? Number(last[c]) : last[c])), last.user_id])
      : null;
  return { users, next };
}

function encodeCursor(value: CursorValue[]): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** The sort columns' values of the previous page's last row, then its user id. */
function decodeCursor(cursor: string, sort: UserSort): CursorValue[] {
  const columns = SORT_COLUMNS[sort];
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown;
    if (
      Array.isArray(value) &&
      value.length === columns.length + 1 &&
      // Only values a page could have ended on: integers both databases hold exactly, text without
      // control characters (PostgreSQL refuses a NUL in text; no name or UPN holds one).
      // The last value is the user id, text as well.
      value.every((v, i) => {
        const column = columns[i];
        return column && NUMERIC.has(column) ? Number.isSafeInteger(v) : typeof v === 'string' && !/\p{Cc}/u.test(v);
      })
    ) {
      return value as CursorValue[];
    }
  } catch {
    // fall through to the error below
  }
  throw invalidInput('The page cursor is not valid for this sort; start again from the first page.', 'invalid_cursor');
}

export interface StateCount {
  state: SyncStateName;
  users: number;
  /** When the longest-waiting user in this state entered it; null when nobody is in it. */
  oldestSince: number | null;
}

/** Users per state and the oldest wait in each: one pass over the (state, since) index. */
export async function countByState(db: Db): Promise<StateCount[]> {
  const rows = await db
    .selectFrom('admin_user_status')
    .select((eb) => ['state', eb.fn.countAll<number>().as('users'), eb.fn.min('since').as('oldest')])
    .groupBy('state')
    .execute();
  const byState = new Map(rows.map((r) => [r.state, r]));
  return SYNC_STATES.map((state) => {
    const row = byState.get(state);
    return { state, users: Number(row?.users ?? 0), oldestSince: row ? Number(row.oldest) : null };
  });
}

/** The first people out of step, longest waiting first (the head of the default sort). */
export async function firstOutOfStep(db: Db, limit = 10): Promise<UserRow[]> {
  const page = await listUsersPage(db, { sort: 'action', limit });
  return page.users.filter((u) => isOutOfStep(u.state));
}
