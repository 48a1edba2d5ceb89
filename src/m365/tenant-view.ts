import { PostgresAdapter, sql } from 'kysely';
import { invalidInput } from '../errors.js';
import type { Db } from '../storage/database.js';
import { ftsPhrase, likeAnywhere, MIN_SUBSTRING, searchText } from '../storage/search-text.js';
import { TENANT_STATES, type TenantState } from './model.js';
import { getTenantUsers, type TenantUserRecord } from './users.js';

// The tenant's users as the admin console lists them: counted by state, and a page at a time,
// filtered by state and by any part of a name or UPN, in UPN order.

export interface TenantUsersQuery {
  state?: TenantState | undefined;
  search?: string | undefined;
  /** The UPN of the last user of the previous page. */
  after?: string | undefined;
  limit?: number | undefined;
}

export interface TenantUsersPage {
  users: TenantUserRecord[];
  /** The `after` of the next page; null on the last one. */
  next: string | null;
}

const MAX_PAGE = 200;

/** Users still in the tenant per state; a user not decided yet counts as unknown. */
export async function countTenantStates(db: Db): Promise<Record<TenantState, number>> {
  const rows = await db
    .selectFrom('m365_users')
    .select(['state', (eb) => eb.fn.countAll<number>().as('count')])
    .where('gone_at', 'is', null)
    .groupBy('state')
    .execute();
  const counts = Object.fromEntries(TENANT_STATES.map((s) => [s, 0])) as Record<TenantState, number>;
  for (const row of rows) {
    const state = TENANT_STATES.includes(row.state as TenantState) ? (row.state as TenantState) : 'unknown';
    counts[state] += Number(row.count);
  }
  return counts;
}

/** The one statement that reads a page's keys (exported so its plan can be checked). */
export function tenantPageKeysQuery(db: Db, query: TenantUsersQuery) {
  const limit = Math.min(Math.max(query.limit ?? 50, 1), MAX_PAGE);
  const search = searchText(query.search);
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  // The cursor is the last UPN of the page before: no UPN holds a control character, and
  // PostgreSQL refuses a NUL in text.
  if (query.after !== undefined && /\p{Cc}/u.test(query.after)) {
    throw invalidInput('The page cursor is not valid; start again from the first page.', 'invalid_cursor');
  }
  return db
    .selectFrom('m365_users')
    .select(['id', 'upn'])
    .where('gone_at', 'is', null)
    .$if(query.state === 'unknown', (q) =>
      q.where((eb) => eb.or([eb('state', 'is', null), eb('state', '=', 'unknown')])),
    )
    .$if(query.state !== undefined && query.state !== 'unknown', (q) => q.where('state', '=', query.state!))
    .$if(Boolean(search) && search!.length < MIN_SUBSTRING, (q) =>
      // The start of a name or UPN, on the indexes of lower(display_name) and lower(upn)
      // (on SQLite, of the columns that hold them: see the 2026-12-16-02 migration).
      q.where((eb) =>
        eb.or(
          (['display_name', 'upn'] as const).map((column) => {
            const lowered = postgres ? eb.fn<string>('lower', [column]) : sql.ref<string>(`${column}_lower`);
            return eb.and([eb(lowered, '>=', search!), eb(lowered, '<', `${search!}\u{10FFFF}`)]);
          }),
        ),
      ),
    )
    .$if(Boolean(search) && search!.length >= MIN_SUBSTRING, (q) =>
      q.where((eb) =>
        postgres
          ? sql<boolean>`(lower(${eb.ref('display_name')}) LIKE ${likeAnywhere(search!)} OR lower(${eb.ref('upn')}) LIKE ${likeAnywhere(search!)})`
          : eb(
              'id',
              'in',
              sql<string>`(SELECT user_id FROM m365_user_search_text WHERE id IN
                (SELECT rowid FROM m365_user_search WHERE m365_user_search MATCH ${ftsPhrase(search!)}))`,
            ),
      ),
    )
    .$if(query.after !== undefined, (q) => q.where('upn', '>', query.after!))
    .orderBy('upn')
    .limit(limit + 1);
}

export async function listTenantUsersPage(db: Db, query: TenantUsersQuery): Promise<TenantUsersPage> {
  const limit = Math.min(Math.max(query.limit ?? 50, 1), MAX_PAGE);
  const ids = await tenantPageKeysQuery(db, query).execute();
  const shown = ids.slice(0, limit);
  const users = await listTenantUsersById(
    db,
    shown.map((r) => r.id),
  );
  return { users, next: ids.length > limit ? (shown.at(-1)?.upn ?? null) : null };
}

async function listTenantUsersById(db: Db, ids: string[]): Promise<TenantUserRecord[]> {
  const found = await getTenantUsers(db, ids);
  return ids.flatMap((id) => found.get(id) ?? []);
}

/** The users in these states (those a push can fix), the first `limit` by UPN, and how many there are. */
export async function usersInStates(
  db: Db,
  states: readonly TenantState[],
  limit: number,
): Promise<{ users: TenantUserRecord[]; total: number }> {
  const inStates = db
    .selectFrom('m365_users')
    .where('gone_at', 'is', null)
    .where('state', 'in', [...states]);
  const [rows, count] = await Promise.all([
    inStates.select('id').orderBy('upn').limit(limit).execute(),
    inStates.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return {
    users: await listTenantUsersById(
      db,
      rows.map((r) => r.id),
    ),
    total: Number(count.n),
  };
}
