import { performance } from 'node:perf_hooks';
import { sharePointTile } from './clients.js';
import { benchUser, distinctUploads, giveMailPhoto, openBenchStore } from './fixtures.js';
import {
  metricTotal,
  postgresAvailable,
  startServerProcess,
  table,
  verdict,
  type Section,
  type ServerProcess,
} from './support.js';

// Part 5: three `photosync serve` processes on one PostgreSQL schema. Concurrent triggers for the
// same user must render once; triggers for different users spread over the instances.

const SAME_USER_ROUNDS = 4;
const SAME_USER_TRIGGERS = 30;
const DIFFERENT_USERS = 30;
const PHOTO = '/_layouts/15/userphoto.aspx';
const TILE_ROUNDS = 2;

async function trigger(server: ServerProcess, upn: string, token: string): Promise<string> {
  const response = await fetch(`${server.url}${PHOTO}?size=L&accountname=${encodeURIComponent(upn)}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await response.arrayBuffer();
  return response.headers.get('x-photosync-sync') ?? `status ${response.status}`;
}

const renders = async (servers: ServerProcess[]) =>
  (await Promise.all(servers.map((s) => metricTotal(s.url, 'photosync_renditions_rendered_total')))).reduce(
    (a, b) => a + b,
    0,
  );

export async function instancesBench(): Promise<Section> {
  if (!(await postgresAvailable())) {
    return { title: '5. Several instances', body: 'PostgreSQL is not reachable: not measured.' };
  }
  const store = await openBenchStore('postgres', 'instances');
  const servers: ServerProcess[] = [];
  try {
    for (let i = 0; i < 3; i++) servers.push(await startServerProcess(store.env));
    const uploads = await distinctUploads(2);

    // Same user, many triggers at once over all three instances.
    const subject = await benchUser(store);
    const sameUser: Array<{ synced: number; renders: number; other: Record<string, number> }> = [];
    for (let round = 0; round < SAME_USER_ROUNDS; round++) {
      await giveMailPhoto(store, subject.user, uploads[round % 2]!);
      const before = await renders(servers);
      const outcomes = await Promise.all(
        Array.from({ length: SAME_USER_TRIGGERS }, (_, i) => trigger(servers[i % 3]!, subject.user.upn, subject.token)),
      );
      const other: Record<string, number> = {};
      for (const o of outcomes) if (o !== 'synced') other[o] = (other[o] ?? 0) + 1;
      sameUser.push({
        synced: outcomes.filter((o) => o === 'synced').length,
        renders: (await renders(servers)) - before,
        other,
      });
    }

    // The same user clicking the SharePoint tile at once on all three instances (a session each).
    const clicker = await benchUser(store);
    const tiles = await Promise.all(servers.map((server) => sharePointTile(store, server, clicker.user)));
    const tileRounds: Array<{ synced: number; renders: number }> = [];
    const tileOthers: Record<string, number> = {};
    for (let round = 0; round < TILE_ROUNDS; round++) {
      await giveMailPhoto(store, clicker.user, uploads[round % 2]!);
      const before = await renders(servers);
      const outcomes = await Promise.all(Array.from({ length: SAME_USER_TRIGGERS }, (_, i) => tiles[i % 3]!()));
      for (const o of outcomes) if (o !== 'synced') tileOthers[o] = (tileOthers[o] ?? 0) + 1;
      tileRounds.push({
        synced: outcomes.filter((o) => o === 'synced').length,
        renders: (await renders(servers)) - before,
      });
    }
    const tileSynced = tileRounds.reduce((n, r) => n + r.synced, 0);
    const tileRenders = tileRounds.reduce((n, r) => n + r.renders, 0);

    // Different users: everyone's photo changed, everyone triggers at once.
    const people: Array<Awaited<ReturnType<typeof benchUser>>> = [];
    for (let i = 0; i < DIFFERENT_USERS; i++) people.push(await benchUser(store));
    const spread = async (instances: ServerProcess[], upload: Buffer) => {
      for (const p of people) await giveMailPhoto(store, p.user, upload);
      const before = await renders(servers);
      const started = performance.now();
      const outcomes = await Promise.all(
        people.map((p, i) => trigger(instances[i % instances.length]!, p.user.upn, p.token)),
      );
      const seconds = (performance.now() - started) / 1000;
      return {
        perSecond: people.length / seconds,
        synced: outcomes.filter((o) => o === 'synced').length,
        renders: (await renders(servers)) - before,
      };
    };
    const three = [];
    const one = [];
    for (let round = 0; round < 4; round++) {
      // Alternating photos keeps every round a real change; alternating set-ups shares the noise.
      if (round % 2 === 0) three.push(await spread(servers, uploads[round % 2]!));
      else one.push(await spread([servers[0]!], uploads[round % 2]!));
    }

    const sameSynced = sameUser.reduce((n, r) => n + r.synced, 0);
    const sameRenders = sameUser.reduce((n, r) => n + r.renders, 0);
    const otherOutcomes: Record<string, number> = {};
    for (const r of sameUser)
      for (const [k, v] of Object.entries(r.other)) otherOutcomes[k] = (otherOutcomes[k] ?? 0) + v;
    const best = (runs: Array<{ perSecond: number }>) => Math.max(...runs.map((r) => r.perSecond));
    const differentRenders = [...three, ...one].reduce((n, r) => n + r.renders, 0);
    const differentSynced = [...three, ...one].reduce((n, r) => n + r.synced, 0);
    const rows = [
      [
        `same user: ${SAME_USER_ROUNDS} photo changes × ${SAME_USER_TRIGGERS} simultaneous triggers over 3 instances`,
        `${sameRenders} renders, ${sameSynced} synced; others: ${Object.entries(otherOutcomes)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ')}`,
        `one render per change: ${verdict(sameRenders === SAME_USER_ROUNDS && sameSynced === SAME_USER_ROUNDS)}`,
      ],
      [
        `same user, SharePoint tile: ${TILE_ROUNDS} photo changes × ${SAME_USER_TRIGGERS} simultaneous clicks over 3 instances`,
        `${tileRenders} renders, ${tileSynced} synced; others: ${Object.entries(tileOthers)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ')}`,
        `one render per change: ${verdict(tileRenders === TILE_ROUNDS && tileSynced === TILE_ROUNDS)}`,
      ],
      [
        `different users: ${DIFFERENT_USERS} changed users trigger at once (4 rounds)`,
        `${differentRenders} renders for ${differentSynced} syncs`,
        `no duplicate renders: ${verdict(differentRenders === differentSynced && differentSynced === DIFFERENT_USERS * 4)}`,
      ],
      [
        'throughput, three instances (best of 2), syncs/s',
        best(three).toFixed(1),
        `${(best(three) / best(one)).toFixed(2)}× one instance`,
      ],
      ['throughput, one instance (best of 2), syncs/s', best(one).toFixed(1), ''],
    ];
    return {
      title: '5. Several instances on one PostgreSQL',
      body: [
        "Three `photosync serve` processes on one PostgreSQL schema; renders counted from each instance's",
        '`photosync_renditions_rendered_total`, outcomes from the `x-photosync-sync` header (own L picture) or the',
        "tile's redirect (`POST /launch/sharepoint` with a session and its form token). On this 2-core machine",
        'three instances share two cores with the load generator, so throughput can only gain from overlapping',
        'database waits with rendering.',
        '',
        table(['case', 'result', 'check'], rows),
      ].join('\n'),
    };
  } finally {
    for (const s of servers) await s.stop();
    await store.close();
  }
}
