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
      '**The whole sync of a changed photo (≤ 1.2× the one-decode floor).** Since 2026-12-02 the sync reads',
      'the renditions made when the photo was set (three small files, their content tags checked) and decodes nothing: what is left is the',
      'database work (the inputs read, the lock with the inputs read again under it, the switch, the attempt',
      'record) and the three new files, each created straight under its new name and flushed (`fdatasync`) before',
      'the switch commits; with this part’s one libuv thread the flushes run one after another (in one process on',
      '2026-12-02, 45 syncs: 4.6 ms of a 20.6 ms sync, medians). The row under it is the sync of a photo kept',
      'without those renditions, which renders: one decode to the L side (sharp’s shrink-on-load only for',
      'reductions of 3× and more, its guard against libjpeg’s rounding in `pipeline.cc`; 648 → 300 is 2.16×)',
      'and one sharp pipeline per size, each with a fixed cost about that of a 48 px encode.',
    ],
  },
  {
    section: '2.',
    missed: /changed:[^\n]*\*\*missed\*\*/,
    text: [
      '**Action → visible (changed ≤ 20 ms p95).** Since 2026-12-02 the render is no longer part of the action:',
      'the sites’ renditions are made when the mail photo is set (`mail_photo_renditions`; part 1’s last two rows',
      'give the cost moved there) and the sync switches to them. The "sync up to its commit" row is the server’s own',
      'record, which since 2026-12-03 is written in the switch’s commit and so leaves that commit out: on',
      'PostgreSQL five round trips, three of them one after another before the answer, counted by the pool’s',
      'clients in `test/sync-round-trips.test.ts`: the inputs; the user’s lock with the inputs read again under it',
      '(one call of `photosync_locked_read`, whose read takes a snapshot after the lock is held), while the kept',
      'renditions are read on a second connection (their rows joined with their bytes: one statement since',
      '2026-12-03, two before); the switch (new blobs, renditions, profile, old blobs removed) and the attempt’s',
      'record in one statement; the lock’s release, after the answer. Each costs about the "for scale" row, and',
      'the switch more: PostgreSQL’s own plan log (auto_explain, 2026-12-03) put it at 1.3 ms in the server, of',
      'which 0.77 ms was the admin status trigger’s function, planned again at every call while it was a SQL',
      'function; as PL/pgSQL since then (migration 2026-12-20-02) it is planned once per connection, and a call',
      'took 0.49 ms against 0.86 ms with its round trip. On',
      'SQLite the three new files are each flushed (`fdatasync`, in parallel) before the switch commits. The rest',
      'of the changed time is HTTP: the L picture (or the tile’s redirect) sent back and the colleague’s request',
      'for the new M, each a round trip between two processes on two shared cores. The code before this change',
      'and after it, this part run alternately three times each on 2026-12-02 between 21:19 and 21:36 UTC (the',
      'machine slower than earlier that day): own L → colleague’s new M p95 on SQLite 40.9, 36.1 and 35.8 ms',
      'before, 11.3, 17.9 and 15.4 ms after; on PostgreSQL 31.0, 39.5 and 30.5 ms before, 22.8, 26.9 and 22.3 ms',
      'after; the PostgreSQL sync’s recorded duration, p50, 18.0, 20.1 and 18.5 ms before, 7.75, 8.51 and',
      '6.27 ms after. Since 2026-12-03 the read cache keeps rows by what they were read from, so on',
      'PostgreSQL a new picture leaves the tokens, sessions and users in memory: the colleague’s request for the',
      'new M reads the picture’s row alone, and the owner’s next own L request reads no token; and the owner’s',
      'own L request reads the sync’s inputs while it reads whose picture it is. The code before and after the',
      'first change, this part run alternately twice each on 2026-12-03 between 08:14 and 08:22 UTC: own L →',
      'colleague’s new M on PostgreSQL p50 13.5 and 13.4 ms before, 11.5 and 12.6 ms after, p95 20.5 and 20.1',
      'before, 17.5 and 19.8 after; the tile 13.3 and 13.6 ms before, 12.8 and 12.4 after, p95 26.8 and 20.7',
      'before, 22.5 and 20.6 after. The second change, alternated the same way (08:36 to 08:43 UTC), moved',
      'nothing beyond this machine’s spread (own L p50 12.5 and 11.5 ms before, 11.6 and 12.0 after). The code',
      'before the record went into the switch’s commit and the status function became PL/pgSQL (04c4a25) and',
      'after (24797ef), this part run alternately three times each on 2026-12-03 between 11:31 and 11:46 UTC,',
      'in a checkout of its own: on PostgreSQL the tile → colleague’s new M p50 13.7, 11.0 and 13.1 ms before,',
      '8.64, 8.30 and 9.08 after, p95 22.5, 15.3 and 21.1 before, 12.8, 12.0 and 12.3 after; own L → colleague’s',
      'new M p50 13.4, 11.9 and 10.9 before, 9.95, 10.2 and 9.83 after, p95 18.9, 17.8 and 15.4 before, 14.8,',
      '16.9 and 15.1 after. SQLite, where neither change removes a round trip, moved within its spread (own L',
      'p50 7.75, 8.42 and 9.30 ms before, 9.83, 9.35 and 7.28 after).',
      'On 2026-12-03 from 13:30 UTC the host was slower than that morning (nginx served 21,800 requests a',
      'second in part 3 at 13:25, against 35,000 to 84,000 on other days): the code of that morning (0147f31)',
      'and the code after it, this part run alternately twice each between 13:30 and 13:43, missed alike',
      '(own L → colleague’s new M p95 on SQLite 28.3 and 22.0 ms before, 16.6 and 18.1 after; on PostgreSQL 21.8',
      'and 21.5 before, 22.3 and 22.3 after; the tile on SQLite 24.4 and 19.1 before, 14.1 and 20.8 after). What the server spends on a changed run on SQLite, measured that',
      'day from /proc: about 8 ms of CPU on its main thread for the own L request and the colleague’s M, in the',
      'CPU profile mostly the file operations (lstat, unlink, open, read, fstat, close, fdatasync) and the',
      'queries. Each asynchronous file operation there hands work to libuv’s thread pool, and on this host the',
      'hand-over costs more than the operation: a 5 KB `fs.promises.readFile` took 654 µs (409 µs of CPU)',
      'against 26 µs for `readFileSync`, an `lstat` 209 µs against 7 µs. A sync reads three renditions,',
      'writes three and removes three, some thirty such operations. Reading small files synchronously would',
      'block every request while the disk answers (on a network file system, for as long as it hangs), so',
      'it is not done; fewer operations per file is where the time is.',
      'On PostgreSQL, traced on 2026-12-03 between 15:10 and 15:40 UTC (a quiet hour: both changed rows met in',
      'the run at 15:12, the tile missed in the run at 15:27), a tile click’s run cost the server’s main thread',
      'about 7 ms of CPU (V8 profile, 100 runs), about 3 ms of it inside socket writes: 0.3 to 0.5 ms for each',
      'statement sent to PostgreSQL, 0.6 ms for the redirect. A write to a process asleep in the kernel pays',
      'for waking it on this host: a throwaway client sending `select $1` spent 30 to 115 µs in each call that',
      'writes it when the queries ran back to back, 170 to 250 µs with 40 ms between them, over TCP and a Unix',
      'socket alike. PostgreSQL’s own plan log (auto_explain of every statement, 100 own L runs) put the switch',
      'at 1.0 ms p50 and 1.7 ms p95 inside the server (0.4 ms of it the admin status trigger), the lock with its',
      'read at 0.5 ms, the kept renditions’ read at 0.15 ms: what each statement costs beyond that is the',
      'wake-up and the round trip. Since 2026-12-22 there are fewer (migration 2026-12-22-01,',
      '`photosync_sync_read`): the kept renditions come with the read under the lock (their bytes as base64 in',
      'its JSON), and a tile click whose inputs are not in memory reads them and takes the lock in one call when',
      'the sites look out of step (an in-step click takes no lock): a changed own L request sends four',
      'statements instead of five, a changed tile click three instead of five, two of them before the answer',
      'instead of three (`test/sync-round-trips.test.ts`). The code before (8e1c999) and after, this part run',
      'alternately twice each on 2026-12-03 between 21:58 and 22:06 UTC, nothing else running: on PostgreSQL',
      'the tile → colleague’s new M p50 11.5 and 12.1 ms before, 10.2 and 12.0 after, p95 19.9 and 19.1',
      'before, 14.2 and 16.8 after; the sync’s recorded duration p95 5.64 and 5.07 ms before, 4.24 and 4.58',
      'after; own L → colleague’s new M moved within the spread (p95 16.5 and 15.5 before, 18.4 and 15.0 after).',
    ],
  },
  {
    section: '2.',
    missed: /unchanged:[^\n]*\*\*missed\*\*/,
    text: [
      '**Unchanged ≤ 2 ms p95 (SQLite), ≤ 3 ms (PostgreSQL).** Zero image bytes are read (counted). Compare the p95 with the "check itself"',
      'row and with /healthz, timed in the same blocks with the same client: the check is a few hundredths of a',
      'millisecond, and the rest is the HTTP round trip between two processes sharing two cores, set by',
      'scheduling more than by work. /healthz goes through the same framework path and runs `select 1`: in',
      'process on SQLite, one round trip on PostgreSQL (about the "for scale" row), so there it is no floor.',
      'Until 2026-12-03 the revalidation was timed with fetch() (undici), which keeps its connection open as',
      'well but spends more of the bench process’s CPU per request; since then with Node’s own HTTP client, and',
      'fetch() beside it. The two were compared that day against one SQLite server, 1,000 timed requests a',
      'round after 200 untimed, rounds of each case one after another, in four runs (the node:http case was',
      'added after the first): fetch() gave p95 0.91 to 3.83 ms, under 2 ms in 11 rounds of 15 (the four',
      'misses the first round of each run); node:http 0.59 to 2.25 ms, under 2 ms in 10 of 12; /healthz with',
      'fetch() 0.97 to 3.44 ms. Since',
      '2026-12-02 the checks’ records',
      'are gathered: an in-step check of one’s own picture is answered first, and one user’s checks within',
      '200 ms are written as one record counting them all; before, each check’s record was written after its',
      'answer but on the server’s one thread, ahead of the next request. The code before that change and this',
      'code, run back to back with this part’s method (1,000 timed revalidations after 200 untimed) on',
      '2026-12-02: before, SQLite p50/p95 0.79/2.65 ms and PostgreSQL 1.47/3.57 ms; after, 0.48/1.02 and',
      '0.52/1.81 ms on SQLite, 0.77/2.40 and 0.76/2.52 ms on PostgreSQL (two runs). The token and the picture’s',
      'row come from the read cache, which the tables’ notices (LISTEN/NOTIFY) empty at commit, and the',
      'in-step check’s "checked" time sends none. Since 2026-12-03 the sync’s inputs come from it too, kept',
      'until a record, a new photo or a back-off changes them: the "check itself" was 0.40 ms on PostgreSQL in',
      'the run of 06:49 UTC that day and 0.02 ms in the run of 09:15 UTC, where no round trip is left in it',
      'but the record’s, gathered. Each round trip costs about the "for scale" row. The inputs',
      'query goes as a named statement since later on 2026-12-02, parsed and planned once per connection: two',
      'servers side by side, 2,000 revalidations each in blocks of 100 alternated, twice, PostgreSQL p50',
      '0.97 → 0.72 and 0.96 → 0.69 ms, p95 2.81 → 2.76 and 2.77 → 2.58 ms. The same code answers it since;',
      'the runs alternated for the renditions made at set time (2026-12-02, 21:19 to 21:36 UTC) show this',
      'machine’s spread: SQLite p95 1.90, 2.14 and 2.50 ms with the code before, 2.29, 3.72 and 2.15 ms with',
      'this; PostgreSQL 2.97, 2.56 and 2.88 ms, then 4.13, 3.89 and 3.03 ms; the check itself 0.07 to 0.10 ms',
      'on SQLite in all six.',
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
      'On 2026-12-03 a V8 profile of the kept 200 answers under load (autocannon, 10 connections, about',
      '25,000 a second) put 52 % of the answer’s samples in its `writev` and 37 % in the 96-byte `pread` of the',
      'WAL index header, which took 6.5 µs on average when timed in the server (43,652 reads, other work on',
      'the machine) against 2 µs in a loop by itself. One look at the header per turn of the event loop, for',
      'every request read in that turn, would save most of it; but a second request read from one connection in',
      'the same turn may have arrived after the look, so the promise that a kept answer is never older than',
      'the database was when its request arrived would rest on how libuv reads sockets. Not done.',
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
