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
      'after the sync has answered (since 2026-12-02). A sampling profile of an in-process loop of syncs (`node --cpu-prof`,',
      '`perf`) shows the main thread mostly idle: the time is libvips and libjpeg on the thread pool, the',
      'kernel (page faults of new image buffers, the flushes), and the per-pipeline setup. Before and after in',
      'one process on 2026-11-30 (load average 22, one libuv thread, blocks of 20 renders alternated): this render',
      'took 0.95× the floor’s wall time and 1.19× its CPU time, the one before (a pipeline more, for the M pixels',
      'that S was resized from) 1.46× and 1.17×; the fewer steps save waiting, not CPU. With this part’s one',
      'libuv thread the three flushes run one after another. ImageMagick, jimp and naive sharp are no longer',
      'compared on the master: one decode plus three encodes of a 0.4-megapixel image take longer than the time',
      'those targets allowed, and sharp decodes the whole master for a 300 px L (libjpeg’s 1/2-scale decode',
      'only for reductions of 3× and more, its guard against rounding in `pipeline.cc`; 648 → 300 is 2.16×).',
      'The flushes alone rule the target out: in one process with one libuv thread on 2026-12-02 (45 syncs of new',
      'uploads, `fdatasync` timed around the calls), the three took 4.6 ms of a 20.6 ms sync (medians), where 1.2×',
      'the floor leaves a fifth of the floor for the flushes, the database and the pipelines’ setup together.',
      'Short of keeping the three renditions in one file (one flush), it is met only by flushing less.',
    ],
  },
  {
    section: '2.',
    missed: /changed:[^\n]*\*\*missed\*\*/,
    text: [
      '**Action → visible (changed ≤ 20 ms p95).** The "sync itself" row is the server’s own record: one decode',
      'and three encodes (part 1 gives their CPU time; in a server the largest encode runs beside the two smaller',
      'ones) plus, on PostgreSQL, five round trips one after another where there were about fifteen, counted by',
      'the pool’s clients in `test/sync-round-trips.test.ts`: the inputs; the user’s lock with the inputs read',
      'again under it (one call of `photosync_locked_read`, whose read takes a snapshot after the lock is held),',
      'while the mail photo’s bytes are read on a second connection (a key never names two different writes, so',
      'they are used when the inputs under the lock name the same key); the switch (new blobs, renditions,',
      'profile, old blobs removed) in one statement; the attempt record, sent while the lock is released. Each',
      'costs about the "for scale" row. On SQLite the steps are function calls, but the three new files are each flushed',
      'to disk (`fdatasync`, in parallel) before the switch commits, so the new picture’s bytes are on disk before',
      'anything points at them; the old files are removed after the answer (since 2026-12-02), and the recorded',
      'duration ends at the commit. The rest of the changed time is HTTP: the L picture (or the tile’s redirect) sent back',
      'and the colleague’s request for the new M. Before and after the last two changes (the largest encode beside',
      'the smaller ones, the mail photo read while the lock is taken instead of inside the locked read’s JSON),',
      'this part run twice each, alternately, on 2026-12-02 (load average 1.7 to 2.6): the PostgreSQL sync’s',
      'recorded duration, p50, 34.8 and 31.8 ms before, 26.7 and 24.1 ms after; on SQLite 20.6 and 16.9 ms before,',
      '18.7 and 19.4 ms after, no change beyond the noise. Since later that day the publish keeps the new',
      'renditions’ bytes in the server’s memory and the sync answers with their rows, so the L sent back and the',
      'colleague’s new M read no file (SQLite) and no row of bytes (PostgreSQL); two servers side by side (the',
      'code before and after these and the named statements below, changed runs alternated, 100 and 150 each):',
      'own L answered p50 17.9 → 17.6 and 17.9 → 16.5 ms on SQLite, 26.5 → 25.3 and 22.2 → 21.0 ms on',
      'PostgreSQL; the colleague’s new M seen p50 20.3 → 20.2 and 19.8 → 18.6 ms, 30.5 → 28.7 and 25.6 → 23.8 ms.',
      'The render is most of what is left.',
    ],
  },
  {
    section: '2.',
    missed: /unchanged:[^\n]*\*\*missed\*\*/,
    text: [
      '**Unchanged ≤ 2 ms p95 (SQLite), ≤ 3 ms (PostgreSQL).** Zero image bytes are read (counted). Compare the p95 with the "check itself"',
      'row: the check is a fraction of a millisecond on SQLite and one round trip on PostgreSQL (the sync’s',
      'inputs in one query); the rest is the HTTP round trip between two processes sharing two cores (fetch() in',
      'one, the server in the other), set by scheduling more than by work. Since 2026-12-02 the checks’ records',
      'are gathered: an in-step check of one’s own picture is answered first, and one user’s checks within',
      '200 ms are written as one record counting them all; before, each check’s record was written after its',
      'answer but on the server’s one thread, ahead of the next request. The code before that change and this',
      'code, run back to back with this part’s method (1,000 timed revalidations after 200 untimed) on',
      '2026-12-02: before, SQLite p50/p95 0.79/2.65 ms and PostgreSQL 1.47/3.57 ms; after, 0.48/1.02 and',
      '0.52/1.81 ms on SQLite, 0.77/2.40 and 0.76/2.52 ms on PostgreSQL (two runs). The token and the picture’s',
      'row come from the read cache, which the tables’ notices (LISTEN/NOTIFY) empty at commit, and the',
      'in-step check’s "checked" time sends none. Each round trip costs about the "for scale" row. The inputs',
      'query goes as a named statement since later on 2026-12-02, parsed and planned once per connection: two',
      'servers side by side, 2,000 revalidations each in blocks of 100 alternated, twice, PostgreSQL p50',
      '0.97 → 0.72 and 0.96 → 0.69 ms, p95 2.81 → 2.76 and 2.77 → 2.58 ms.',
    ],
  },
  {
    section: '3.',
    missed: /\| (200|304)[^\n]*\*\*missed\*\*/,
    text: [
      '**Serving vs nginx.** The "Fastify doing nothing" column is this stack’s ceiling here (its ratio to nginx',
      'in brackets). Profiles of the whole path on 2026-11-30 put its cost in the framework’s pipeline per',
      'request (routing, hooks, query schema, reply) and the credential and row lookups around a query handler',
      'of 3 to 5 µs: in-process the whole route took 28 / 24 µs (200 / 304), a constant answer from the same',
      'route 10 / 8 µs. Since 2026-12-01 a request repeated with the same credential, address and If-None-Match',
      'is answered before Fastify from an answer kept in the read cache (`src/sites/picture-answers.ts`): one',
      'check of the change counters (`total_changes()` and a 96-byte `pread` of the WAL index), a map lookup and',
      'the write; a `perf` profile of it shows Node’s HTTP parser and writer (the `writev` alone 42 % of the',
      'samples), no Fastify and no query. Before and after, two server processes on one database measured',
      'alternately (autocannon, 4 s each, 2026-12-01): the same request repeated 70 to 72 µs of server CPU per',
      'answer against 89 to 94 µs before (−22 %); every request a new address 101 to 115 µs against 90 to 107 µs',
      '(about +10 %: keeping costs a copy of the headers and a map entry; at 10,000 kept answers the map is',
      'emptied with the rows it holds). On this machine the state of the host moves every figure by up to 2×',
      'within minutes: a handler answering fixed bytes after the same `pread`, put in place of the kept answers',
      'in the same process, cost 64 to 66 µs in one window, the kept answers 39 to 43 µs a few minutes later,',
      'and nginx served 84,000 requests a second on 2026-11-30 and 35,000 on 2026-12-01. Only the interleaved',
      'rows of one run compare.',
    ],
  },
  {
    section: '4.',
    missed: /listUsersPage[^\n]*\*\*missed\*\*/,
    text: [
      '**Admin users page (≤ 20 ms p95).** `listUsersPage` makes one indexed keyset read of `admin_user_status`',
      'and one join for the page’s rows (its plan is checked by the admin tests through `pageKeysQuery`). On',
      'PostgreSQL the searches read the trigram GIN indexes, whose pending list (entries not yet merged) every',
      'search reads whole: after building 100,000 users it held thousands, and measured on a copy of the table',
      'a search took 9–10 ms with 2,300 entries pending against 1.4 ms merged. The indexes keep at most 64 kB',
      'pending since the 2026-12-16-01 migration; a miss after that has no profile yet.',
    ],
  },
  {
    section: '4.',
    missed: /server RSS[^\n]*\*\*missed\*\*/,
    text: [
      '**Server memory under load (≤ 300 MB).** The load starts seconds after the server, while its start-up',
      'sweep of the photo store runs. Until 2026-12-01 that sweep read all 300,000 file names at once (a heap',
      'snapshot held 50 MB of them) and asked unindexed tables which keys they name, 40 s in all; it now reads a',
      'directory at a time by indexed questions, 2.6 s. What the server keeps is bounded: the read cache holds at',
      'most 10,000 entries (a kept picture answer with its headers, a token’s or a picture’s row) and the byte',
      'cache 32 MB of pictures. A miss after that has no profile yet; the row gives the request rate.',
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
