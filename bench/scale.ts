import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { createToken } from '../src/directory/credentials.js';
import { buildLargeOrganisation, largeOrgUpn, type LargeOrgReport } from '../src/demo/large-organisation.js';
import { listUsersPage, type UsersPageQuery } from '../src/admin/users-query.js';
import { renditionSpec } from '../src/sites/library.js';
import { isOutOfStep } from '../src/sync/state.js';
import { listSyncStatus } from '../src/sync/status.js';
import { openBenchStore, type BenchStore } from './fixtures.js';
import { load } from './load.js';
import {
  REPO,
  median,
  percentile,
  postgresAvailable,
  rssMb,
  startServerProcess,
  table,
  verdict,
  type Section,
} from './support.js';

// Part 4: an organisation of 100,000 users (BENCH_ORG_USERS to change it) on SQLite and on
// PostgreSQL: build time, sizes, the admin "out of step" page query, the status CLI, and the
// server's memory under serving load.

const USERS = Number(process.env.BENCH_ORG_USERS ?? 100_000);
const PAGE_SIZE = 50;
/**
 * The portraits' mail photos are 360 px rather than the store's largest (648 px): the part measures
 * rows, queries and serving, not master bytes, and this keeps the PostgreSQL build (every photo row
 * written to the table and to the WAL) within the bench's time. The renditions are the usual S/M/L.
 */
const MASTER_SIDE = 360;

/** One page of out-of-step users, as the admin console asks for it. */
type PageQuery = (store: BenchStore) => Promise<unknown[]>;

/** What this build has: the full status report filtered to out of step, first page. */
const statusReportPage: PageQuery = async (store) => {
  const { config, database } = store.services;
  const rows = await listSyncStatus(database.db, config.publicUrl, renditionSpec(config.renditionSizes));
  return rows.filter((r) => isOutOfStep(r.state)).slice(0, PAGE_SIZE);
};

/** The admin console's paged queries (`listUsersPage`), as its users table asks for them. */
const ADMIN_PAGES: Array<{ label: string; query: UsersPageQuery }> = [
  { label: '"out of step" (state changed, longest waiting first)', query: { state: 'changed', sort: 'waiting' } },
  { label: 'all users, first page by name', query: { sort: 'name' } },
  { label: 'search "user 0012" (start of display name or UPN)', query: { search: 'user 0012', sort: 'name' } },
  { label: 'search "r 001234" (any part: trigram index, 1 match)', query: { search: 'r 001234', sort: 'name' } },
  { label: 'search "er 0012" (any part: trigram index, 100 matches)', query: { search: 'er 0012', sort: 'name' } },
  { label: 'search "user" (any part: every user matches)', query: { search: 'user', sort: 'name' } },
];

const adminPage = (store: BenchStore, query: UsersPageQuery) =>
  listUsersPage(store.services.database.db, { ...query, limit: PAGE_SIZE });

async function timed(runs: number, task: () => Promise<unknown>, warmUp = true): Promise<number[]> {
  if (warmUp) await task();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await task();
    samples.push(performance.now() - started);
  }
  return samples;
}

function directoryBytes(dir: string): number {
  // Hard links count once: this is what the photo store really occupies on disk.
  const seen = new Set<number>();
  let total = 0;
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const file = path.join(d, entry.name);
      if (entry.isDirectory()) walk(file);
      else {
        const stat = fs.statSync(file);
        if (!seen.has(stat.ino)) total += stat.size;
        seen.add(stat.ino);
      }
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return total;
}

async function sizes(store: BenchStore): Promise<{ database: number; photos: number; logicalPhotos: number }> {
  const { db, dialect } = store.services.database;
  const logical = await sql<{ bytes: string | number }>`select
      (select coalesce(sum(byte_size), 0) from mail_photos) + (select coalesce(sum(byte_size), 0) from site_renditions) as bytes`.execute(
    db,
  );
  const logicalPhotos = Number(logical.rows[0]?.bytes ?? 0);
  if (dialect === 'postgres') {
    const rows = await sql<{
      name: string;
      bytes: string;
    }>`select c.relname as name, pg_total_relation_size(c.oid) as bytes
      from pg_class c where c.relnamespace = current_schema()::regnamespace and c.relkind = 'r'`.execute(db);
    const blobs = Number(rows.rows.find((r) => r.name === 'storage_blobs')?.bytes ?? 0);
    const all = rows.rows.reduce((n, r) => n + Number(r.bytes), 0);
    return { database: all - blobs, photos: blobs, logicalPhotos };
  }
  const dataDir = store.services.config.dataDir;
  const file = path.join(dataDir, 'photosync.sqlite');
  const database = ['', '-wal', '-shm'].reduce(
    (n, s) => n + (fs.existsSync(file + s) ? fs.statSync(file + s).size : 0),
    0,
  );
  return { database, photos: directoryBytes(path.join(dataDir, 'photos')), logicalPhotos };
}

interface DialectFigures {
  dialect: string;
  report: LargeOrgReport;
  buildSeconds: number;
  sizes: Awaited<ReturnType<typeof sizes>>;
  statusPage: number[];
  adminPages: number[][];
  statusCli: number[];
  rssIdle: number;
  rssPeak: number;
  servingRps: number;
}

async function measure(dialect: 'sqlite' | 'postgres'): Promise<DialectFigures> {
  const store = await openBenchStore(dialect, `scale-${dialect}`);
  try {
    process.stderr.write(`scale: building ${USERS} users on ${dialect}...\n`);
    const started = performance.now();
    const report = await buildLargeOrganisation(store.services, { users: USERS, masterSide: MASTER_SIDE });
    const buildSeconds = (performance.now() - started) / 1000;
    if (dialect === 'postgres') await sql`analyze`.execute(store.services.database.db);
    const measuredSizes = await sizes(store);

    // Seconds per run at 100,000 users: a few runs say enough about a query that reads everyone.
    const statusPage = await timed(3, () => statusReportPage(store));
    const adminPages: number[][] = [];
    for (const { query } of ADMIN_PAGES) {
      if ((await adminPage(store, query)).users.length === 0) throw new Error(`no users for ${JSON.stringify(query)}`);
      adminPages.push(await timed(30, () => adminPage(store, query)));
    }
    // A new process every run: no warm-up run.
    const statusCli = await timed(
      3,
      () =>
        promisify(execFile)(process.execPath, [path.join(REPO, 'bin/photosync.js'), 'status'], {
          env: { PATH: process.env.PATH ?? '', ...store.env },
          maxBuffer: 512 * 1024 * 1024,
        }),
      false,
    );

    const server = await startServerProcess(store.env);
    try {
      const viewer = await store.services.database.db
        .selectFrom('directory_users')
        .select('id')
        .where('upn', '=', largeOrgUpn(0))
        .executeTakeFirstOrThrow();
      const token = await createToken(store.services.database.db, viewer.id, 'bench');
      const rssIdle = rssMb(server.pid);
      let rssPeak = rssIdle;
      const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMb(server.pid))), 100);
      let n = 0;
      // Colleagues' M pictures across the whole organisation, so caches cannot hold it all.
      const result = await load(server.url, {
        headers: { authorization: `Bearer ${token}` },
        seconds: 8,
        expectStatus: 200,
        nextPath: () => `/_layouts/15/userphoto.aspx?size=M&accountname=${largeOrgUpn((n = (n + 7919) % USERS))}`,
      });
      clearInterval(sampler);
      return {
        dialect,
        report,
        buildSeconds,
        sizes: measuredSizes,
        statusPage,
        adminPages,
        statusCli,
        rssIdle,
        rssPeak,
        servingRps: result.requestsPerSecond,
      };
    } finally {
      await server.stop();
    }
  } finally {
    await store.close();
  }
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

export async function scaleBench(): Promise<Section> {
  const dialects: Array<'sqlite' | 'postgres'> = (await postgresAvailable()) ? ['sqlite', 'postgres'] : ['sqlite'];
  const figures: DialectFigures[] = [];
  for (const dialect of dialects) figures.push(await measure(dialect));
  const rows = figures.flatMap((f) => {
    const statusP95 = percentile(f.statusPage, 95);
    return [
      [f.dialect, 'build time (s)', f.buildSeconds.toFixed(1), ''],
      [f.dialect, 'database size (without photos)', mb(f.sizes.database), ''],
      [f.dialect, 'photo store on disk (logical bytes)', `${mb(f.sizes.photos)} (${mb(f.sizes.logicalPhotos)})`, ''],
      [
        f.dialect,
        `"out of step" page via the status report (listSyncStatus, filtered, first ${PAGE_SIZE}) p50 / p95 ms`,
        `${median(f.statusPage).toFixed(0)} / ${statusP95.toFixed(0)}`,
        '',
      ],
      ...ADMIN_PAGES.map(({ label }, i) => {
        const samples = f.adminPages[i]!;
        const p95 = percentile(samples, 95);
        return [
          f.dialect,
          `admin users page (listUsersPage, ${PAGE_SIZE} rows): ${label} p50 / p95 ms`,
          `${median(samples).toFixed(1)} / ${p95.toFixed(1)}`,
          `≤ 20 ms p95: ${verdict(p95 <= 20)}`,
        ];
      }),
      [f.dialect, '`photosync status` (whole process) median s', (median(f.statusCli) / 1000).toFixed(2), ''],
      [
        f.dialect,
        `server RSS idle → peak under load (${f.servingRps.toFixed(0)} req/s of M pictures of random users)`,
        `${f.rssIdle.toFixed(0)} → ${f.rssPeak.toFixed(0)} MB`,
        `≤ 300 MB: ${verdict(f.rssPeak <= 300)}`,
      ],
    ];
  });
  const counts = figures[0]?.report.counts ?? {};
  return {
    title: `4. Scale: ${USERS.toLocaleString('en-US')} users`,
    body: [
      `Built by \`buildLargeOrganisation\` (\`npx tsx scripts/build-org.ts --users ${USERS}\`): ${Object.entries(counts)
        .map(([state, count]) => `${count} ${state.replace('_', ' ')}`)
        .join(
          ', ',
        )}; 200 distinct portraits (${MASTER_SIDE} px mail photos, so the build stays short), every user with blobs under their own keys.`,
      'The admin console reads its users table with `listUsersPage` (one indexed, keyset-paginated read per page;',
      '30 runs each). The status report (`listSyncStatus`, what `photosync status` prints) reads every user and is',
      'shown filtered to the first out-of-step page for comparison: it grows with the organisation.',
      '',
      table(['database', 'measure', 'value', 'target'], rows),
    ].join('\n'),
  };
}
