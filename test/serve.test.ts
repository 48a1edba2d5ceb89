import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setUserPassword } from '../src/directory/revocation.js';
import { countUsers, findUserByUpn } from '../src/directory/users.js';
import { DEMO_ADMIN, DEMO_PASSWORD, DEMO_PEOPLE } from '../src/demo/seed.js';
import { createTestStore, describeEachDialect, openTestServices, type TestStore } from './support/services.js';

// `photosync serve` as an operator starts it: a fresh data folder, the demo organisation seeded
// on the first start only, a real port, and a clean stop on SIGTERM.

const BIN = fileURLToPath(new URL('../bin/photosync.js', import.meta.url));
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

interface Server {
  child: ChildProcess;
  port: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A port nobody listens on right now: the OS picks one, then it is released. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** The test run's environment without any photosync or database setting (PHOTOSYNC_DEMO stays unset). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('PHOTOSYNC_') || ['DATABASE_URL', 'PORT', 'HOST', 'NODE_ENV'].includes(name)) delete env[name];
  }
  return env;
}

const running = new Set<ChildProcess>();

async function startServer(dataDir: string, storeEnv: Record<string, string> = {}): Promise<Server> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...cleanEnv(), ...storeEnv, PHOTOSYNC_DATA_DIR: dataDir, PORT: String(port), PHOTOSYNC_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  const server: Server = { child, port, stdout: () => stdout, stderr: () => stderr, exited };

  // Running once the whole start-up message is out (it ends with the States line).
  await new Promise<void>((resolve, reject) => {
    const finish = (error?: Error) => {
      clearTimeout(timer);
      child.stdout?.off('data', onOutput);
      if (error) reject(error);
      else resolve();
    };
    const onOutput = () => {
      if (/photosync is running at[\s\S]*States: /.test(stdout)) finish();
    };
    const timer = setTimeout(
      () => finish(new Error(`serve did not start within ${START_TIMEOUT_MS} ms:\n${stdout}\n${stderr}`)),
      START_TIMEOUT_MS,
    );
    child.stdout?.on('data', onOutput);
    void exited.then((early) =>
      finish(new Error(`serve exited early (${JSON.stringify(early)}):\n${stdout}\n${stderr}`)),
    );
  });
  return server;
}

/** SIGTERM, and the exit it leads to (or a timeout, after which the child is killed). */
async function stop(server: Server): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'timeout'> {
  server.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    server.exited,
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS))),
  ]);
  clearTimeout(timer);
  if (result === 'timeout') server.child.kill('SIGKILL');
  return result;
}

/** How many people the directory on `store` holds (the demo people once each, after seeding). */
async function usersIn(store: TestStore): Promise<number> {
  const services = await openTestServices(store);
  try {
    return await countUsers(services.database.db);
  } finally {
    await services.close();
  }
}

/** A command run as an operator would on the same data folder, with no PORT or public URL set. */
function command(args: string[], dataDir: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...cleanEnv(), PHOTOSYNC_DATA_DIR: dataDir, PHOTOSYNC_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const url = (server: Server, path: string) => `http://127.0.0.1:${server.port}${path}`;

describe('photosync serve [sqlite]', () => {
  let store: TestStore;

  beforeAll(async () => {
    store = await createTestStore('sqlite');
  });
  afterEach(() => {
    // Whatever an assertion did, no server outlives its test.
    for (const child of running) child.kill('SIGKILL');
  });
  afterAll(async () => {
    for (const child of running) child.kill('SIGKILL');
    await store?.drop();
  });

  it('seeds the demo organisation on the first start, serves, and stops cleanly on SIGTERM', async () => {
    const server = await startServer(store.dataDir);
    const out = server.stdout();
    expect(out).toContain(`photosync is running at http://localhost:${server.port}`);
    expect(out).toContain('Created the demo organisation');
    for (const person of DEMO_PEOPLE) expect(out).toContain(person.upn);
    expect(out).toContain(`Demo sign-in: ${DEMO_ADMIN} / ${DEMO_PASSWORD}`);
    expect(out).toContain('admin@contoso.com / photosync-demo');

    const health = await fetch(url(server, '/healthz'));
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', database: 'sqlite' });

    const anonymous = await fetch(url(server, '/_layouts/15/userphoto.aspx?size=M&accountname=jane@contoso.com'));
    expect(anonymous.status).toBe(401);
    const badToken = await fetch(url(server, '/_layouts/15/userphoto.aspx?size=M&accountname=jane@contoso.com'), {
      headers: { authorization: 'Bearer pst_not-a-token' },
    });
    expect(badToken.status).toBe(401);

    expect(await stop(server)).toEqual({ code: 0, signal: null });
    expect(server.stderr()).not.toContain('    at ');
  });

  it('does not seed again on the second start of the same data, and still serves', async () => {
    const server = await startServer(store.dataDir);
    const out = server.stdout();
    expect(out).toContain(`photosync is running at http://localhost:${server.port}`);
    expect(out).not.toContain('Created the demo organisation');
    // Still the people and the sign-in: a first start that could not listen has made them already.
    expect(out).toContain('The demo organisation (how each stands now: npx photosync status):');
    // Their names, not what they were made as: by now they may have synced, changed or failed.
    for (const person of DEMO_PEOPLE) {
      expect(out).toContain(`${person.upn.padEnd(22)} ${person.name}`);
      expect(out).not.toContain(person.note);
    }
    expect(out).toContain(`Demo sign-in: ${DEMO_ADMIN} / ${DEMO_PASSWORD}`);

    const health = await fetch(url(server, '/healthz'));
    expect(await health.json()).toMatchObject({ status: 'ok' });
    // The server's metrics include its process: CPU, memory, event-loop delay.
    const metrics = await (await fetch(url(server, '/metrics'))).text();
    for (const name of [
      'photosync_process_cpu_seconds_total',
      'photosync_process_resident_memory_bytes',
      'photosync_nodejs_eventloop_lag_p99_seconds',
    ]) {
      expect(metrics).toContain(`# TYPE ${name} `);
    }
    const anonymous = await fetch(url(server, '/_layouts/15/userphoto.aspx?size=S&accountname=admin@contoso.com'));
    expect(anonymous.status).toBe(401);

    // A command run beside it without PORT names this server's port in its URLs, not 8080.
    const beside = await command(['status', '--json'], store.dataDir);
    expect(beside.code).toBe(0);
    expect(beside.stdout).toContain(`http://localhost:${server.port}/`);
    expect(beside.stdout).not.toContain('localhost:8080');

    expect(await stop(server)).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(path.join(store.dataDir, 'serving.json'))).toBe(false);
    // With the server stopped, the default applies again.
    expect((await command(['status', '--json'], store.dataDir)).stdout).toContain('http://localhost:8080/');

    expect(await usersIn(store)).toBe(DEMO_PEOPLE.length);
  });

  it('no longer names the demo sign-in once its password was changed; an empty directory says how to begin', async () => {
    const services = await openTestServices(store);
    try {
      const admin = (await findUserByUpn(services.database.db, DEMO_ADMIN))!;
      await setUserPassword(services.database.db, admin, 'a password of our own');
    } finally {
      await services.close();
    }
    const changed = await startServer(store.dataDir);
    expect(changed.stdout()).not.toContain('Demo sign-in');
    expect(changed.stdout()).not.toContain('demo organisation');
    expect(await stop(changed)).toEqual({ code: 0, signal: null });

    const empty = await createTestStore('sqlite');
    try {
      const server = await startServer(empty.dataDir, { PHOTOSYNC_DEMO: 'false' });
      expect(server.stdout()).toContain('No users yet. Add an administrator');
      // Runnable as printed from another shell in this folder: on this server's data folder.
      expect(server.stdout()).toContain(
        `  PHOTOSYNC_DATA_DIR=${empty.dataDir} npx photosync users add you@example.com --name "Your Name" --admin`,
      );
      expect(await stop(server)).toEqual({ code: 0, signal: null });
    } finally {
      await empty.drop();
    }
  });

  it('refuses a port that is already taken, with a message instead of a stack trace', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    // A first start: nothing is made (no database, no demo organisation) when it cannot listen.
    const fresh = path.join(store.dataDir, 'fresh');
    try {
      const child = spawn(process.execPath, [BIN, 'serve'], {
        env: { ...cleanEnv(), PHOTOSYNC_DATA_DIR: fresh, PORT: String(port), PHOTOSYNC_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      running.add(child);
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      running.delete(child);
      expect(code).toBe(1);
      expect(stderr).toContain(`Port ${port} on 127.0.0.1 is already in use`);
      expect(stderr).not.toContain('    at ');
      expect(fs.existsSync(fresh)).toBe(false);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describeEachDialect('two servers starting together on an empty database', (dialect) => {
  it('seed the demo organisation once, and both serve', async () => {
    const store = await createTestStore(dialect);
    try {
      const { PHOTOSYNC_DEMO: _demo, ...storeEnv } = store.env;
      const servers = await Promise.all([startServer(store.dataDir, storeEnv), startServer(store.dataDir, storeEnv)]);
      const seeders = servers.filter((s) => s.stdout().includes('Created the demo organisation'));
      expect(seeders).toHaveLength(1);
      for (const server of servers) {
        expect(await (await fetch(url(server, '/healthz'))).json()).toMatchObject({ status: 'ok', database: dialect });
        expect(await stop(server)).toEqual({ code: 0, signal: null });
      }
      expect(await usersIn(store)).toBe(DEMO_PEOPLE.length);
    } finally {
      for (const child of running) child.kill('SIGKILL');
      await store.drop();
    }
  });
});
