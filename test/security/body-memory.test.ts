import net from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { createToken } from '../../src/directory/credentials.js';
import { DEFAULT_BODY_BUDGET } from '../../src/http/body-budget.js';
import { makeUser, solidJpeg } from '../support/factories.js';
import { startServe, type ServeProcess } from '../support/serve-process.js';
import {
  createTestStore,
  openTestServices,
  testDialects,
  useTestApp,
  type TestContext,
  type TestStore,
} from '../support/services.js';

// Request bodies are read whole into memory. Clients that send all but the last byte of a body and
// go quiet would each hold that memory until the request's deadline; before, 150 such connections
// grew the server by 300 MB on the token endpoint (anyone may post there), and 150 of one user's
// 4 MB uploads by 900 MB. Now the bodies arriving at once from one sender (a user, an
// app, or an address without credentials) are budgeted (src/http/body-budget.ts): the rest are refused with 429 before a byte is read, and a
// finished or dropped request gives its share back. Real sockets; the memory is the server
// process's own (peak resident set, from /proc).

/** Connections per case: 150 MB of token requests, 160 MB of uploads, five times what a sender may hold. */
const CONNECTIONS = { token: 150, upload: 40 };
/** What almostWholeBody gives for a connection the server closed before its answer could be read. */
const RESET = 0;
const MB = 1024 * 1024;

const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  // Let the server see the connections go.
  await new Promise((resolve) => setTimeout(resolve, 300));
});

/** Sends the head and all but the last byte of a `declared`-byte body, then goes quiet; the status if refused. */
function almostWholeBody(
  port: number,
  method: string,
  path: string,
  declared: number,
  headers: Record<string, string>,
): Promise<number | undefined> {
  const head = [
    `${method} ${path} HTTP/1.1`,
    'Host: localhost',
    `Content-Length: ${declared}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    '',
    '',
  ].join('\r\n');
  return new Promise((resolve) => {
    let answer = '';
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    // In 64 KB pieces, as a client sends a body, so an answer is read as soon as it comes.
    const pump = () => {
      while (sent < declared - 1 && !socket.destroyed) {
        const piece = chunk.subarray(0, Math.min(chunk.length, declared - 1 - sent));
        sent += piece.length;
        if (sent === declared - 1) {
          // Quiet once it is all written: an answer comes only if the server refused the body. (5 s:
          // on a loaded machine a refusal took longer than 1 s to arrive and was counted as held.)
          socket.write(piece, () => setTimeout(() => resolve(undefined), 5_000));
          return;
        }
        if (!socket.write(piece)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(head);
      pump();
    });
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      answer += chunk;
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1];
      if (status) {
        resolve(Number(status));
        // What this client still had to write of a refused body is dropped with it.
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    // Closed by the server before its answer was read (a refusal closes the connection while the
    // client is still writing, and a reset can drop what was not read yet): refused all the same.
    socket.on('close', () => resolve(RESET));
    sockets.push(socket);
  });
}

describe('bodies that never finish, sent to a server process', () => {
  let store: TestStore;
  let server: ServeProcess;
  let token: string;
  let port: number;

  beforeAll(async () => {
    store = await createTestStore('sqlite');
    const services = await openTestServices(store);
    const user = await makeUser(services);
    token = await createToken(services.database.db, user.id, 'memory');
    await services.close();
    server = await startServe(store.env);
    port = Number(new URL(server.url).port);
  });

  afterAll(async () => {
    await server?.stop();
    await store?.drop();
  });

  for (const [who, method, path, declared, type, connections] of [
    [
      'anyone, on the token endpoint',
      'POST',
      '/common/oauth2/v2.0/token',
      MB,
      'application/x-www-form-urlencoded',
      CONNECTIONS.token,
    ],
    [
      'one signed-in user, on Graph photo uploads',
      'PUT',
      '/v1.0/me/photo/$value',
      4 * MB,
      'image/jpeg',
      CONNECTIONS.upload,
    ],
  ] as const) {
    it(`sent by ${who} are held only up to the sender's budget; the rest are refused`, async () => {
      const auth: Record<string, string> = path.startsWith('/v1.0') ? { Authorization: `Bearer ${token}` } : {};
      const before = await server.peakRssMb();
      const statuses = await Promise.all(
        Array.from({ length: connections }, () =>
          almostWholeBody(port, method, path, declared, { 'Content-Type': type, ...auth }),
        ),
      );
      const held = statuses.filter((status) => status === undefined).length;
      // Bytes are counted as they arrive: the bodies whose every byte fit in the sender's share are
      // held (the one whose byte went over it, and all after, are refused wherever they were).
      expect(held).toBeGreaterThan(0);
      expect(held).toBeLessThanOrEqual(Math.floor(DEFAULT_BODY_BUDGET.perSenderBytes / declared));
      const refused = statuses.filter((status) => status !== undefined);
      expect(refused).toHaveLength(connections - held);
      expect(refused.every((status) => status === 429 || status === RESET)).toBe(true);
      expect(refused.filter((status) => status === 429).length).toBeGreaterThan(0);
      // Before: 300 MB more for the token endpoint, 900 MB more for the uploads.
      const growth = (await server.peakRssMb()) - before;
      expect(growth, `${connections} unfinished bodies grew the server by ${Math.round(growth)} MB`).toBeLessThan(
        DEFAULT_BODY_BUDGET.perSenderBytes / MB + 48,
      );
    }, 60_000);
  }
});

describe('the budget of a server', () => {
  const context = useTestApp('sqlite') as TestContext & { app: App };
  let port: number;
  let token: string;

  beforeAll(async () => {
    await context.app.listen({ port: 0, host: '127.0.0.1' });
    port = (context.app.server.address() as net.AddressInfo).port;
    const user = await makeUser(context.services);
    token = await createToken(context.services.database.db, user.id, 'memory');
  });

  it('gives each person their own share, though they send from one address', async () => {
    const other = await makeUser(context.services);
    const otherToken = await createToken(context.services.database.db, other.id, 'memory');
    const mine = { 'Content-Type': 'image/jpeg', Authorization: `Bearer ${token}` };
    const statuses = await Promise.all(
      Array.from({ length: 9 }, () => almostWholeBody(port, 'PUT', '/v1.0/me/photo/$value', 4 * MB, mine)),
    );
    expect(statuses.filter((status) => status !== undefined).length).toBeGreaterThan(0);
    const theirs = { 'Content-Type': 'image/jpeg', Authorization: `Bearer ${otherToken}` };
    expect(await almostWholeBody(port, 'PUT', '/v1.0/me/photo/$value', 4 * MB, theirs)).toBeUndefined();
  }, 60_000);

  it('lets connections that announce a body and send none of it hold nothing', async () => {
    // Headers only, announcing 1 MB each: more than the address's share, if announcing counted.
    const quiet = Array.from(
      { length: 64 },
      () =>
        new Promise<void>((resolve) => {
          const socket = net.connect(port, '127.0.0.1', () => {
            socket.write(
              'POST /signin HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
                `Content-Length: ${MB}\r\n\r\n`,
              () => resolve(),
            );
          });
          socket.on('error', () => resolve());
          sockets.push(socket);
        }),
    );
    await Promise.all(quiet);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Someone at the same address signs in: their form is read (wrong password: 401, not 429).
    const signIn = await context.app.inject({
      method: 'POST',
      url: '/signin',
      remoteAddress: '127.0.0.1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'username=nobody%40contoso.com&password=wrong',
    });
    expect(signIn.statusCode).not.toBe(429);
    expect(signIn.statusCode).not.toBe(503);
  }, 60_000);

  it('gives the budget back when a held connection goes, and a finished request never keeps it', async () => {
    const headers = { 'Content-Type': 'image/jpeg', Authorization: `Bearer ${token}` };
    const statuses = await Promise.all(
      Array.from({ length: 8 }, () => almostWholeBody(port, 'PUT', '/v1.0/me/photo/$value', 4 * MB, headers)),
    );
    expect(statuses.every((status) => status === undefined)).toBe(true);
    expect(await almostWholeBody(port, 'PUT', '/v1.0/me/photo/$value', 4 * MB, headers)).not.toBeUndefined();
    for (const socket of sockets.splice(0)) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 300));
    // 40 whole 1 MB bodies one after another: far more than the budget in all, each answered.
    for (let i = 0; i < 40; i++) {
      const response = await context.app.inject({
        method: 'POST',
        url: '/common/oauth2/v2.0/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: `grant_type=client_credentials&padding=${'a'.repeat(MB - 100)}`,
      });
      expect(response.statusCode, response.body).toBe(400);
    }
    expect(await almostWholeBody(port, 'PUT', '/v1.0/me/photo/$value', 4 * MB, headers)).toBeUndefined();
  }, 60_000);
});

describe.runIf(testDialects().includes('postgres'))('the budget and a client that leaves before its body', () => {
  const context = useTestApp('postgres') as TestContext & { app: App };
  let port: number;
  let token: string;

  beforeAll(async () => {
    await context.app.listen({ port: 0, host: '127.0.0.1' });
    port = (context.app.server.address() as net.AddressInfo).port;
    const user = await makeUser(context.services);
    token = await createToken(context.services.database.db, user.id, 'leave');
  });

  it('counts nothing for uploads whose clients hung up while their credentials were read', async () => {
    // The database is slow to say whose token it is (a lock held here for a moment).
    const locker = new pg.Client({ connectionString: context.store.databaseUrl });
    await locker.connect();
    await locker.query(`set search_path to ${context.store.schema}`);
    await locker.query('begin');
    await locker.query('lock table directory_tokens in access exclusive mode');
    // Twelve uploads (48 MB announced) whose clients give up while they wait.
    await Promise.all(
      Array.from(
        { length: 12 },
        () =>
          new Promise<void>((resolve) => {
            const socket = net.connect(port, '127.0.0.1', () => {
              socket.write(
                `PUT /v1.0/me/photo/$value HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
                  `Content-Type: image/jpeg\r\nContent-Length: ${4 * MB}\r\n\r\n`,
              );
              setTimeout(() => {
                socket.destroy();
                resolve();
              }, 200);
            });
            socket.on('error', () => resolve());
          }),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    await locker.query('commit');
    await locker.end();
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Before, each of them kept its share for good: this upload, and every later one, got 429.
    const response = await fetch(`http://127.0.0.1:${port}/v1.0/me/photo/$value`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'image/jpeg' },
      body: new Uint8Array(await solidJpeg([20, 120, 220], 64)),
    });
    expect(response.status, await response.text()).toBe(200);
  }, 30_000);
});
