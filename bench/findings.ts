import type { Section } from './support.js';

// What the profiles showed where targets were missed. Kept with the bench so every BENCHMARKS.md
// carries it; each finding is printed only when the run it ends up in missed that target (its
// section's row says **missed**), so the report never explains a miss that did not happen.

interface Finding {
  /** The section (by its title's number) and the row pattern that shows the miss. */
  section: string;
  missed: RegExp;
  text: string[];
}

const FINDINGS: Finding[] = [
  {
    section: '1.',
    missed: /the whole sync[^\n]*\*\*missed\*\*/,
    text: [
      '**The whole sync of a changed 648 px master (≤ 1.2× the one-decode floor).** The three rows split it.',
      'The render alone is one decode (to the L side) and one sharp pipeline per size, each smaller size resized',
      'from the L pixels in the pipeline of its own encode: as many pipelines as the floor, whose fixed cost',
      '(sharp reading its options, libvips building and freeing the operations, about that of a 48 px encode',
      'each) both pay. The rest is the database work (the inputs read, the lock with the inputs read again under',
      'it, the switch, the attempt record) and the three new files: each is created straight under its new',
      'name and flushed (`fdatasync`) before the switch commits, in parallel; the files replaced are removed',
      'while the attempt is recorded. A sampling profile of an in-process loop of syncs (`node --cpu-prof`,',
      '`perf`) shows the main thread mostly idle: the time is libvips and libjpeg on the thread pool, the',
      'kernel (page faults of new image buffers, the flushes), and the per-pipeline setup. Before and after in',
      'one process on 2026-11-30 (load average 22, one libuv thread, blocks of 20 renders alternated): this render',
      'took 0.95× the floor’s wall time and 1.19× its CPU time, the one before (a pipeline more, for the M pixels',
      'that S was resized from) 1.46× and 1.17×; the fewer steps save waiting, not CPU. With this part’s one',
      'libuv thread the three flushes run one after another. ImageMagick, jimp and naive sharp are no longer',
      'compared on the master: one decode plus three encodes of a 0.4-megapixel image take longer than the time',
      'those targets allowed, and sharp decodes the whole master for a 300 px L (libjpeg’s 1/2-scale decode',
      'only for reductions of 3× and more, its guard against rounding in `pipeline.cc`; 648 → 300 is 2.16×).',
    ],
  },
  {
    section: '2.',
    missed: /changed:[^\n]*\*\*missed\*\*/,
    text: [
      '**Action → visible (changed ≤ 20 ms p95).** The "sync itself" row is the server’s own record: one decode',
      'and three encodes (part 1 gives their CPU time) plus, on PostgreSQL, five round trips where there were',
      'about fifteen, counted by the pool’s clients in `test/sync-round-trips.test.ts`: the inputs; the user’s lock',
      'with the inputs read again under it and the mail photo’s bytes (one call of `photosync_locked_read`, whose',
      'read takes a snapshot after the lock is held); the switch (new blobs, renditions, profile, old blobs',
      'removed) in one statement; the attempt record, sent while the lock is released. Each costs about the',
      '"for scale" row. On SQLite the steps are function calls, but the three new files are each flushed',
      'to disk (`fdatasync`, in parallel) before the switch commits, so the new picture’s bytes are on disk before',
      'anything points at them; the old files are removed while the attempt is recorded, so the recorded duration',
      'ends at the commit. The rest of the changed time is HTTP: the L picture (or the tile’s redirect) sent back',
      'and the colleague’s request for the new M.',
    ],
  },
  {
    section: '2.',
    missed: /unchanged:[^\n]*\*\*missed\*\*/,
    text: [
      '**Unchanged ≤ 2 ms p95 (SQLite), ≤ 3 ms (PostgreSQL).** Zero image bytes are read (counted). Compare the p95 with the "check itself"',
      'row: on SQLite the check is a fraction of a millisecond and the tail is the HTTP round trip between two',
      'processes sharing two cores (fetch() in one, the server in the other), set by scheduling more than by',
      'work. On PostgreSQL the answer takes two round trips (the sync’s inputs in one query, the attempt record',
      'in one statement committed without waiting for the WAL flush); the token and the picture’s row come from',
      'the read cache, which the tables’ notices (LISTEN/NOTIFY) empty at commit, and the in-step check’s',
      '"checked" time sends none. Each round trip costs about the "for scale" row.',
    ],
  },
  {
    section: '3.',
    missed: /\| (200|304)[^\n]*\*\*missed\*\*/,
    text: [
      '**Serving vs nginx.** The "Fastify doing nothing" column is this stack’s ceiling here (its ratio to nginx',
      'in brackets). Where photosync’s CPU per answer goes was measured two ways on 2026-11-30, load average 14 to',
      '20 (other work running). Over HTTP, one server at a time, interleaved, 2 s measurements, medians of 4 to 5',
      '(200 / 304): "Fastify doing nothing" 40 / 31 µs; photosync answering constant bytes from the same route',
      'with no credentials read (its hooks, cookie parsing, logger, query schema) 62 / 47 µs; the same with the',
      'bearer token checked 81 / 65 µs; the whole route 88 / 68 µs. In-process (`app.routing` driven with real',
      '`IncomingMessage`/`ServerResponse` objects whose socket drops the bytes, 10 requests in flight, 20,000 a',
      'measurement, 7 interleaved rounds; no kernel, no load generator) the whole route took 28 / 24 µs, the',
      'constant answer 10 / 8 µs, and taking out the logger options, the URL rewrite, case-insensitive routing or',
      'the cookie plugin each changed it by 1 µs or less, so none was changed. The largest single cost was the',
      'change check of the read cache: `PRAGMA data_version` starts a read transaction, two `fcntl` locks and a',
      'stat per call (strace), 4.2 µs of CPU a call measured alone (not the 0.78 µs an earlier run reported), 10',
      'to 12 µs a request in the in-process run (seven apps, each with a connection to the file). It now reads',
      'the WAL index header from the `-shm` file instead (one `pread`',
      'of 96 bytes, 2.6 µs alone; every commit of any connection rewrites the header before it returns, so a',
      'request sent after another process’s commit still sees it; `data_version` remains where the header cannot',
      'be read), and a token or session whose row is in the read cache is decided without a promise. In-process',
      'that took the route from 28.0 / 24.3 µs to 25.5 / 22.4 µs in one run and from 34.3 / 26.8 to 31.6 / 25.5 µs',
      'in another (load average 17 to 19). Over HTTP the gap stays larger than the JavaScript explains: a',
      'constant answer costs 10 µs in-process but 22 µs more than the ceiling over HTTP. A `perf` profile of the',
      'server (cpu-clock, on-CPU time only) puts 14 % of its samples in the kernel’s return from a context switch',
      'and most of the rest of the kernel time in the loopback TCP send, costs per wake-up and per write that a',
      'slower server pays on fewer answers each; the query’s handler itself is 3 to 5 µs. A sampling profile of',
      'V8 (`BENCH_CPU_PROF=<dir> npm run bench -- serve`) charges the time spent waiting for a core to whatever',
      'was running (`writev`), so it overstates the writes on a loaded machine.',
      'Measured again on a quiet machine (2026-11-30, load average 1.7): the ceiling reaches 0.89× / 0.86× of',
      'nginx and photosync 0.43× / 0.39×, at 30 / 28 µs of server CPU per answer against the ceiling’s 13 / 11 and',
      'nginx’s 10 / 9. All three share the two cores with the load generator, so requests per second follow',
      'each server’s CPU per answer: reaching 0.6× needs about 21 µs. A V8 profile of the server over that',
      'part (tests running beside it) found it waiting for requests 72 % of the time; of its busy time the',
      'socket writes were about half, garbage collection a fifth, the WAL index `pread` 6 %, and routing, the',
      'cookie plugin and the credential check the rest. What is left is Fastify’s pipeline per request, which',
      'only an answer outside it would remove.',
    ],
  },
  {
    section: '4.',
    missed: /listUsersPage[^\n]*\*\*missed\*\*/,
    text: [
      '**Admin users page (≤ 20 ms p95).** `listUsersPage` makes one indexed keyset read of `admin_user_status`',
      'and one join for the page’s rows (its plan is checked by the admin tests through `pageKeysQuery`); no',
      'profile was taken for this run’s miss.',
    ],
  },
];

/** The findings for the misses in `sections`, and one for the run time when it went over ten minutes. */
export function findingsFor(sections: readonly Section[], totalSeconds: number): Section {
  const lines: string[] = [];
  for (const finding of FINDINGS) {
    const section = sections.find((s) => s.title.startsWith(finding.section));
    if (section && finding.missed.test(section.body)) lines.push(`- ${finding.text.join('\n  ')}`);
  }
  if (totalSeconds > 600) {
    lines.push(
      [
        `- **Run time (≈ 10 minutes).** This run took ${Math.round(totalSeconds / 60)} minutes; most of part 4 is`,
        '  building the large organisation on PostgreSQL, whose photo rows are written twice (table and WAL).',
        '  `BENCH_ORG_USERS=20000 npm run bench` keeps it short when the scale is not the question.',
      ].join('\n'),
    );
  }
  return {
    title: 'Missed targets: what the profiles show',
    body: lines.length > 0 ? lines.join('\n') : 'Every target was met in this run.',
  };
}
