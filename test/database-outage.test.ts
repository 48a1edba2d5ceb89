import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { App } from '../src/http/types.js';
import type { Services } from '../src/services.js';
import { makeUser, tokenFor } from './support/factories.js';
import { createTestStore, openTestServices, testDialects, useTestApp, type TestStore } from './support/services.js';

// PostgreSQL gone while photosync serves: refused (the server stopped) or silent (a dead host, a
// network cut off). Every answer is a 503 that says so, with Retry-After, in bounded time, and
// photosync answers again once the database is back. Between photosync and the real database sits
// a TCP relay of the test's own, which the test stops, silences and starts again.

/** A relay from a port of 127.0.0.1 to PostgreSQL: forwarding, refusing, or accepting and never answering. */
function relay(target: { host: string; port: number }) {
  let mode: 'forward' | 'silent' = 'forward';
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const listen = () =>
    new Promise<void>((resolve) => {
      server = net.createServer((client) => {
        track(client);
        if (mode === 'silent') return;
        const upstream = net.connect(target.port, target.host);
        track(upstream);
        client.pipe(upstream).pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as net.AddressInfo).port;
        resolve();
      });
    });
  const cutAll = () => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    listen,
    get port() {
      return port;
    },
    /** Connections refused, the open ones cut: PostgreSQL stopped. */
    async refuse() {
      cutAll();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
    },
    /** Connections taken and never answered, the open ones silenced: a dead host. */
    silence() {
      mode = 'silent';
      for (const socket of sockets) socket.pause();
    },
    /** Back as it was (open connections of the silent spell are cut, as a network coming back finds them gone). */
    async restore() {
      cutAll();
      mode = 'forward';
      if (!server?.listening) await listen();
    },
    async close() {
      cutAll();
      if (server?.listening) await new Promise<void>((resolve) => server!.close(() => resolve()));
    },
  };
}

describe.runIf(testDialects().includes('postgres'))(
  'PostgreSQL gone while photosync serves',
  { timeout: 120_000 },
  () => {
    let store: TestStore;
    let services: Services;
    let app: App;
    let proxy: ReturnType<typeof relay>;
    let token: string;
    let upn: string;
    const logged: string[] = [];
    beforeAll(async () => {
      store = await createTestStore('postgres');
      const url = new URL(store.databaseUrl!);
      proxy = relay({ host: url.hostname, port: Number(url.port || 5432) });
      await proxy.listen();
      url.port = String(proxy.port);
      const log = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line).msg) });
      services = await openTestServices({ ...store, databaseUrl: url.toString() }, {}, { log });
      const { buildApp } = await import('../src/app.js');
      app = await buildApp(services);
      const user = await makeUser(services);
      upn = user.upn;
      token = await tokenFor(services, user);
    });
    afterAll(async () => {
      await proxy?.restore();
      await app?.close();
      await services?.close();
      await proxy?.close();
      await store?.drop();
    });

    const picture = () =>
      app.inject({
        method: 'GET',
        url: `/_layouts/15/userphoto.aspx?size=M&accountname=${encodeURIComponent(upn)}&n=${Math.random()}`,
        headers: { authorization: `Bearer ${token}` },
      });
    const graph = () => app.inject({ method: 'GET', url: '/v1.0/me', headers: { authorization: `Bearer ${token}` } });

    it('answers 503 with Retry-After and says the database cannot be reached, while PostgreSQL refuses', async () => {
      expect((await picture()).statusCode).toBe(200);
      await proxy.refuse();
      try {
        const health = await app.inject({ method: 'GET', url: '/healthz' });
        expect(health.statusCode).toBe(503);
        expect(health.headers['retry-after']).toBe('10');
        expect(health.json().error).toMatchObject({ code: 'database_unavailable' });
        expect(health.json().error.message).toContain('cannot reach its database');
        const me = await graph();
        expect(me.statusCode).toBe(503);
        expect(me.json().error.code).toBe('serviceNotAvailable');
        const ready = await app.inject({ method: 'GET', url: '/readyz' });
        expect(ready.statusCode).toBe(503);
        expect(ready.json().database).toContain('cannot be reached');
      } finally {
        await proxy.restore();
      }
      // Back: the next requests find new connections, and the listening connection says it is back.
      expect((await picture()).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      await vi.waitFor(() => expect(logged.filter((line) => line.includes('changes is back'))).toHaveLength(1), {
        timeout: 10_000,
      });
      expect(logged.filter((line) => line.includes('changes was lost'))).toHaveLength(1);
    });

    it('answers the probes within their five seconds while PostgreSQL is silent', async () => {
      expect((await graph()).statusCode).toBe(200);
      proxy.silence();
      try {
        const started = Date.now();
        const [health, ready] = await Promise.all([
          app.inject({ method: 'GET', url: '/healthz' }),
          new Promise((resolve) => setTimeout(resolve, 1100)).then(() => app.inject({ method: 'GET', url: '/readyz' })),
        ]);
        expect(health.statusCode).toBe(503);
        expect(health.json().error.code).toBe('database_unavailable');
        expect(ready.statusCode).toBe(503);
        expect(ready.json().database).toBe('no answer within 5 s');
        expect(Date.now() - started).toBeLessThan(15_000);
      } finally {
        await proxy.restore();
      }
      expect((await graph()).statusCode).toBe(200);
    });
  },
);

describe("SQLite's write lock held by another process", { timeout: 60_000 }, () => {
  const context = useTestApp('sqlite');

  it('answers a write 503 database_busy with Retry-After once busy_timeout has passed, and the change is made after', async () => {
    const { app, services, store } = context;
    const admin = await makeUser(services, { isAdmin: true });
    const token = await tokenFor(services, admin);
    const patch = () =>
      app.inject({
        method: 'PATCH',
        url: '/admin/api/settings',
        headers: { authorization: `Bearer ${token}` },
        payload: { recheckSeconds: 120 },
      });
    // A command, a backup or a stopped server of another process, holding the write lock.
    const other = new Database(path.join(store.dataDir, 'photosync.sqlite'));
    other.exec('BEGIN IMMEDIATE');
    try {
      const busy = await patch();
      expect(busy.statusCode).toBe(503);
      expect(busy.headers['retry-after']).toBe('5');
      expect(busy.json().error).toEqual({
        code: 'database_busy',
        message: 'The server is busy with another change to its database right now. Try again in a few seconds.',
      });
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    const done = await patch();
    expect(done.statusCode).toBe(200);
    expect(done.json().settings.recheckSeconds).toBe(120);
  });
});
