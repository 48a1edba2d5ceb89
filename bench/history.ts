import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { createUser, type DirectoryUser } from '../src/directory/users.js';
import type { DatabaseHandle } from '../src/storage/database.js';
import { recordAttempt, type SyncAttempt } from '../src/sync/history.js';
import { openBenchStore } from './fixtures.js';
import { formatNumber, postgresAvailable, table, verdict, type Section } from './support.js';

// Part 7: what the sync history costs in rows and bytes after a million views of users' own
// photos, all in step: one row per view (as the history was kept before) against the rows the
// history keeps now, written through the real recording path.

const VIEWS = Number(process.env.BENCH_HISTORY_VIEWS ?? 1_000_000);
const USERS = 1_000;
const ETAG = 'a1b2c3d4e5f60718';
/** Concurrent recordings (PostgreSQL serves them on several connections; SQLite queues them). */
const CONCURRENCY = 8;

interface Figures {
  dialect: string;
  case: string;
  rows: number;
  bytes: number;
  views: number;
  usPerView: number | undefined;
}

async function users(database: DatabaseHandle): Promise<DirectoryUser[]> {
  const made: DirectoryUser[] = [];
  for (let i = 0; i < USERS; i++) {
    made.push(await createUser(database.db, { upn: `history${i}@contoso.com`, displayName: `History ${i}` }));
  }
  return made;
}

/** The n-th view: every user's first is the sync, the rest find the sites in step. */
function view(people: DirectoryUser[], n: number, at: number): SyncAttempt {
  const user = people[n % people.length]!;
  const first = n < people.length;
  return {
    userId: user.id,
    trigger: 'photo_request',
    outcome: first ? 'synced' : 'unchanged',
    startedAt: at,
    durationMs: 0.4,
    etagBefore: first ? null : ETAG,
    etagAfter: ETAG,
    error: null,
  };
}

async function tableSize(database: DatabaseHandle): Promise<{ rows: number; bytes: number }> {
  const { db } = database;
  const counted = await db
    .selectFrom('sync_attempts')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  if (database.dialect === 'postgres') {
    await sql`vacuum analyze sync_attempts`.execute(db);
    const size = await sql<{ bytes: string }>`select pg_total_relation_size('sync_attempts') as bytes`.execute(db);
    return { rows: Number(counted.n), bytes: Number(size.rows[0]?.bytes) };
  }
  // The table and its indexes, in pages as stored.
  const size = await sql<{ bytes: number }>`
    select sum(pgsize) as bytes from dbstat
    where name = 'sync_attempts' or name in (select name from sqlite_schema where tbl_name = 'sync_attempts' and type = 'index')`.execute(
    db,
  );
  return { rows: Number(counted.n), bytes: Number(size.rows[0]?.bytes) };
}

/** One row per view, as the history was kept before repeated checks were counted (bulk inserted). */
async function oneRowPerView(dialect: 'sqlite' | 'postgres'): Promise<Figures> {
  const store = await openBenchStore(dialect, `history-rows-${dialect}`);
  try {
    const { database } = store.services;
    const people = await users(database);
    const start = Date.now() - VIEWS;
    const BATCH = 1_000;
    for (let n = 0; n < VIEWS; n += BATCH) {
      const rows = [];
      for (let i = n; i < Math.min(VIEWS, n + BATCH); i++) {
        const a = view(people, i, start + i);
        rows.push({
          user_id: a.userId,
          trigger: a.trigger,
          outcome: a.outcome,
          started_at: a.startedAt,
          last_at: a.startedAt,
          checks: 1,
          duration_ms: a.durationMs,
          etag_before: a.etagBefore,
          etag_after: a.etagAfter,
          error: a.error,
        });
      }
      await database.db.insertInto('sync_attempts').values(rows).execute();
    }
    return {
      dialect,
      case: 'one row per view (before)',
      views: VIEWS,
      usPerView: undefined,
      ...(await tableSize(database)),
    };
  } finally {
    await store.close();
  }
}

/** Every view through recordAttempt, as the sync engine records it. */
async function counted(dialect: 'sqlite' | 'postgres'): Promise<Figures> {
  const store = await openBenchStore(dialect, `history-checks-${dialect}`);
  try {
    const { database } = store.services;
    const people = await users(database);
    const start = Date.now() - VIEWS;
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let n = next++; n < VIEWS; n = next++) {
          await recordAttempt(database.db, view(people, n, start + n), null, 300_000);
          if (n % 100_000 === 0) process.stderr.write(`bench: history ${dialect} ${n.toLocaleString('en-US')} views\n`);
        }
      }),
    );
    const usPerView = ((performance.now() - started) * 1000) / VIEWS;
    return { dialect, case: 'repeated checks counted (now)', views: VIEWS, usPerView, ...(await tableSize(database)) };
  } finally {
    await store.close();
  }
}

export async function historyBench(): Promise<Section> {
  const dialects: Array<'sqlite' | 'postgres'> = (await postgresAvailable()) ? ['sqlite', 'postgres'] : ['sqlite'];
  const figures: Figures[] = [];
  for (const dialect of dialects) {
    figures.push(await oneRowPerView(dialect));
    figures.push(await counted(dialect));
  }
  const rows = figures.map((f) => {
    const before = figures.find((b) => b.dialect === f.dialect && b !== f && b.usPerView === undefined);
    const target = f.usPerView === undefined ? '' : `rows ≤ 2 per user: ${verdict(f.rows <= 2 * USERS)}`;
    return [
      f.dialect,
      f.case,
      f.views.toLocaleString('en-US'),
      f.rows.toLocaleString('en-US'),
      formatNumber(f.bytes / 1024 / 1024),
      before ? `${formatNumber(before.bytes / f.bytes)}× smaller` : '',
      f.usPerView === undefined ? '' : formatNumber(f.usPerView),
      target,
    ];
  });
  return {
    title: `7. Sync history after ${VIEWS.toLocaleString('en-US')} own-photo views`,
    body: [
      `${USERS.toLocaleString('en-US')} users, each synced once and then viewing their own L picture in step`,
      `(${(VIEWS / USERS).toLocaleString('en-US')} views each, ${VIEWS.toLocaleString('en-US')} in all). "Before" is one`,
      '`sync_attempts` row per view, as the history was kept until repeated checks were counted, bulk inserted;',
      '"now" records every view through `recordAttempt`, the sync engine’s own path, one call per view (a',
      'server gathers one user’s views within 200 ms into one call, so it makes fewer),',
      `${CONCURRENCY} at once. Size is the table with its indexes (SQLite: \`dbstat\` pages;`,
      'PostgreSQL: `pg_total_relation_size` after VACUUM). µs per view is the recording alone, from the bench',
      'process, on a shared machine.',
      '',
      table(['database', 'history', 'views', 'rows', 'MB', 'vs before', 'µs per view', 'target'], rows),
    ].join('\n'),
  };
}
