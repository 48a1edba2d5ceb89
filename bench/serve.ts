import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { getRendition } from '../src/sites/profiles.js';
import { benchUser, distinctUploads, giveMailPhoto, openBenchStore } from './fixtures.js';
import { CONNECTIONS, freePort, load, type LoadResult } from './load.js';
import {
  childPids,
  cpuMs,
  ensureDebianTool,
  median,
  REPO,
  run,
  startServerProcess,
  table,
  tempDir,
  verdict,
  type Section,
} from './support.js';

// Part 3: userphoto.aspx (bearer token checked on every request) against nginx serving the same
// JPEG bytes from disk, with the same load tool and connection count, 200 and 304 paths.

const SECONDS = 3;
const ROUNDS = 3;

async function startNginx(nginx: string, jpeg: Buffer, etagHolder: { etag: string }) {
  const dir = tempDir('nginx');
  // nginx's workers drop root for an unprivileged user, who must be able to read the file.
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(dir, 'www'));
  fs.mkdirSync(path.join(dir, 'tmp'));
  fs.writeFileSync(path.join(dir, 'www', 'photo.jpg'), jpeg);
  const port = await freePort();
  const temp = (name: string) => `${name}_temp_path ${path.join(dir, 'tmp', name)};`;
  fs.writeFileSync(
    path.join(dir, 'nginx.conf'),
    `worker_processes 1;
daemon off;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  server {
    listen 127.0.0.1:${port};
    root ${path.join(dir, 'www')};
    location / { etag on; add_header Cache-Control "private, no-cache"; }
  }
}
`,
  );
  const child = spawn(nginx, ['-c', path.join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/photo.jpg`;
  for (let i = 0; ; i++) {
    const response = await fetch(url).catch(() => undefined);
    await response?.arrayBuffer();
    if (response?.status === 200) {
      etagHolder.etag = response.headers.get('etag') ?? '';
      break;
    }
    if (i === 100) {
      child.kill('SIGQUIT');
      throw new Error(`nginx did not serve the picture (${response ? `status ${response.status}` : 'no answer'})`);
    }
    await sleep(50);
  }
  return {
    url,
    pids: () => [child.pid!, ...childPids(child.pid!)],
    version: (await run(nginx, ['-v'])).stderr.trim(),
    stop: async () => {
      child.kill('SIGQUIT');
      await new Promise((resolve) => child.once('exit', resolve));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** bench/ceiling-server.ts: Fastify answering the same bytes with no work, in its own process. */
async function startCeiling(jpeg: Buffer, etag: string) {
  const dir = tempDir('ceiling');
  const file = path.join(dir, 'photo.jpg');
  fs.writeFileSync(file, jpeg);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'bench/ceiling-server.ts'), file, etag], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening (\S+)/.exec(output);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`the ceiling server exited with ${code}`)));
  });
  return {
    url,
    pids: () => [child.pid!],
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function serveBench(): Promise<Section> {
  const nginxBinary = await ensureDebianTool('nginx', 'nginx-light');
  const store = await openBenchStore('sqlite', 'serve');
  // A server that fails to start still leaves the store closed, so the part ends.
  const server = await startServerProcess(store.env).catch(async (error: unknown) => {
    await store.close();
    throw error;
  });
  const nginxEtag = { etag: '' };
  let nginx: Awaited<ReturnType<typeof startNginx>> | undefined;
  let ceiling: Awaited<ReturnType<typeof startCeiling>> | undefined;
  try {
    const subject = await benchUser(store);
    const viewer = await benchUser(store);
    await giveMailPhoto(store, subject.user, (await distinctUploads(1))[0]!);
    const synced = await store.services.sync.sync(subject.user, 'admin');
    if (synced.outcome !== 'synced') throw new Error(`could not prepare the picture: ${synced.outcome}`);
    const rendition = await getRendition(store.services.database.db, subject.user.id, 'M');
    const jpeg = rendition && (await store.services.blobs.get(rendition.blobKey));
    if (!rendition || !jpeg) throw new Error('the M rendition is missing');
    nginx = await startNginx(nginxBinary, jpeg, nginxEtag);
    ceiling = await startCeiling(jpeg, `"${rendition.etag}"`);

    const ours = `${server.url}/_layouts/15/userphoto.aspx?size=M&accountname=${encodeURIComponent(subject.user.upn)}`;
    const auth = { authorization: `Bearer ${viewer.token}` };
    // The whole path: each request a new address (an extra query parameter the route ignores), so no
    // answer kept from an earlier one fits, as for every first request after a commit.
    const oursPath = ours.slice(server.url.length);
    let nonce = 0;
    const wholePath = () => `${oursPath}&n=${nonce++}`;
    const cases = {
      nginx200: () => load(nginx!.url, { seconds: SECONDS, expectStatus: 200 }),
      ours200: () => load(ours, { headers: auth, seconds: SECONDS, expectStatus: 200 }),
      ceiling200: () => load(ceiling!.url, { seconds: SECONDS, expectStatus: 200 }),
      nginx304: () =>
        load(nginx!.url, { headers: { 'if-none-match': nginxEtag.etag }, seconds: SECONDS, expectStatus: 304 }),
      ceiling304: () =>
        load(ceiling!.url, {
          headers: { 'if-none-match': `"${rendition.etag}"` },
          seconds: SECONDS,
          expectStatus: 304,
        }),
      ours304: () =>
        load(ours, {
          headers: { ...auth, 'if-none-match': `"${rendition.etag}"` },
          seconds: SECONDS,
          expectStatus: 304,
        }),
      whole200: () => load(ours, { headers: auth, seconds: SECONDS, expectStatus: 200, nextPath: wholePath }),
      whole304: () =>
        load(ours, {
          headers: { ...auth, 'if-none-match': `"${rendition.etag}"` },
          seconds: SECONDS,
          expectStatus: 304,
          nextPath: wholePath,
        }),
    };
    type Case = keyof typeof cases;
    const results = Object.fromEntries(Object.keys(cases).map((k) => [k, [] as LoadResult[]])) as Record<
      Case,
      LoadResult[]
    >;
    // Server CPU time per answer (µs): what each server spends, whatever the machine's load.
    const serverPids = (name: Case) =>
      name.startsWith('nginx') ? nginx!.pids() : name.startsWith('ceiling') ? ceiling!.pids() : [server.pid];
    const cpuPerAnswer = Object.fromEntries(Object.keys(cases).map((k) => [k, [] as number[]])) as Record<
      Case,
      number[]
    >;
    // How many of photosync's answers were kept ones (its /metrics counter), per case over all rounds.
    const keptAnswers = async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      return Number(/^photosync_picture_answers_from_memory_total (\d+)/m.exec(text)?.[1] ?? NaN);
    };
    const kept = Object.fromEntries(Object.keys(cases).map((k) => [k, { kept: 0, total: 0 }])) as Record<
      Case,
      { kept: number; total: number }
    >;
    // Warm-up (JIT, connection pools, the byte cache), then interleaved rounds.
    await load(ours, { headers: auth, seconds: 1, expectStatus: 200 });
    await load(nginx.url, { seconds: 1, expectStatus: 200 });
    await load(ceiling.url, { seconds: 1, expectStatus: 200 });
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of Object.keys(cases) as Case[]) {
        const keptBefore = await keptAnswers();
        const before = cpuMs(serverPids(name));
        const result = await cases[name]();
        cpuPerAnswer[name].push(((cpuMs(serverPids(name)) - before) * 1000) / Math.max(1, result.total));
        results[name].push(result);
        kept[name].kept += (await keptAnswers()) - keptBefore;
        kept[name].total += result.total;
      }
    }
    const rps = (name: Case) => median(results[name].map((r) => r.requestsPerSecond));
    const p99 = (name: Case) => median(results[name].map((r) => r.p99));
    const cpu = (name: Case) => median(cpuPerAnswer[name]);
    const cpuCell = (a: Case, b: Case, c: Case) => [a, b, c].map((n) => cpu(n).toFixed(0)).join(' / ');
    const bad = (name: Case) => results[name].reduce((n, r) => n + r.unexpected, 0);
    // A run where either server answered anything else measured the wrong thing: say so, never a ratio.
    const valid = (Object.keys(cases) as Case[]).every((n) => bad(n) === 0);
    const check = (met: boolean, target: string) =>
      valid ? `${target}: ${verdict(met)}` : '**invalid: unexpected answers**';
    const ratio200 = rps('ours200') / rps('nginx200');
    const ratio304 = rps('ours304') / rps('nginx304');
    const keptShare = (name: Case) => `${Math.round((100 * kept[name].kept) / Math.max(1, kept[name].total))} %`;
    const wholeRow = (label: string, whole: Case, nginxCase: Case, ceilingCase: Case) => [
      label,
      rps(nginxCase),
      p99(nginxCase),
      `${Math.round(rps(ceilingCase))} (${(rps(ceilingCase) / rps(nginxCase)).toFixed(2)}×)`,
      rps(whole),
      p99(whole),
      rps(whole) / rps(nginxCase),
      cpuCell(nginxCase, ceilingCase, whole),
      '',
    ];
    const rows = [
      [
        `200 (full JPEG), the same request again (kept answers: ${keptShare('ours200')})`,
        rps('nginx200'),
        p99('nginx200'),
        `${Math.round(rps('ceiling200'))} (${(rps('ceiling200') / rps('nginx200')).toFixed(2)}×)`,
        rps('ours200'),
        p99('ours200'),
        ratio200,
        cpuCell('nginx200', 'ceiling200', 'ours200'),
        check(ratio200 >= 0.6, '≥ 0.6×'),
      ],
      [
        `304 (If-None-Match), the same request again (kept answers: ${keptShare('ours304')})`,
        rps('nginx304'),
        p99('nginx304'),
        `${Math.round(rps('ceiling304'))} (${(rps('ceiling304') / rps('nginx304')).toFixed(2)}×)`,
        rps('ours304'),
        p99('ours304'),
        ratio304,
        cpuCell('nginx304', 'ceiling304', 'ours304'),
        check(ratio304 >= 0.6, '≥ 0.6×'),
      ],
      wholeRow(
        `200, whole path (a new address each time; kept answers: ${keptShare('whole200')})`,
        'whole200',
        'nginx200',
        'ceiling200',
      ),
      wholeRow(
        `304, whole path (a new address each time; kept answers: ${keptShare('whole304')})`,
        'whole304',
        'nginx304',
        'ceiling304',
      ),
    ];
    const unexpected = (Object.keys(cases) as Case[]).map((n) => bad(n)).reduce((a, b) => a + b, 0);
    return {
      title: '3. Serving userphoto.aspx vs nginx',
      body: [
        `autocannon, ${CONNECTIONS} connections, ${SECONDS} s per measurement, ${ROUNDS} interleaved rounds (medians shown), loopback.`,
        `photosync: one \`photosync serve\` process on SQLite, every request authenticated with a bearer token and the`,
        'picture looked up by account name. A request repeated with the same credential, address and If-None-Match gets',
        'the answer kept from the first (src/sites/picture-answers.ts) while nothing is committed; the "whole path" rows',
        'add a new query parameter to every request, so each is routed, authenticated and looked up as after a commit;',
        `nginx (${nginx.version}, worker_processes 1, access log off) serves the`,
        `same ${jpeg.length}-byte M rendition from a file. Both send an ETag and \`Cache-Control: private, no-cache\`.`,
        'For scale, "Fastify doing nothing" is the same stack (Node.js and Fastify, one process) answering the same',
        'bytes with the same validators and picture headers from a route that checks nothing (`bench/ceiling-server.ts`):',
        'the gap from nginx to it is the stack’s, the gap from it to photosync is photosync’s work.',
        'Requests per second depend on the machine’s other load (the load generator shares its cores); the CPU',
        'column is each server’s own CPU time (user + system, from /proc) divided by the answers it gave, which',
        'waiting for a core does not inflate (nginx: master and worker).',
        `Unexpected statuses or errors over all runs: ${unexpected} (${(Object.keys(cases) as Case[]).map((n) => `${n} ${bad(n)}`).join(', ')}).`,
        '',
        table(
          [
            'path',
            'nginx req/s',
            'nginx p99 ms',
            'Fastify doing nothing req/s (to nginx)',
            'photosync req/s',
            'photosync p99 ms',
            'ratio',
            'server CPU µs per answer (nginx / Fastify doing nothing / photosync)',
            'target',
          ],
          rows,
        ),
      ].join('\n'),
    };
  } finally {
    await ceiling?.stop();
    await nginx?.stop();
    await server.stop();
    await store.close();
  }
}
