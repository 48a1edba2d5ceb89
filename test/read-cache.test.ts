import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSession, createToken, endSession } from '../src/directory/credentials.js';
import type { DirectoryUser } from '../src/directory/users.js';
import { buildApp, type App } from '../src/app.js';
import type { Services } from '../src/services.js';
import { uploadSitePicture } from '../src/sites/upload.js';
import { SESSION_COOKIE } from '../src/http/auth.js';
import { makeUser, solidJpeg } from './support/factories.js';
import { createTestStore, openTestServices, type TestStore } from './support/services.js';

// The serving path keeps token, session and picture rows in memory between commits (SQLite only;
// PostgreSQL reads through). These tests change what it keeps from this process, from another
// connection and from another process, and expect the very next request to see the change.

const BIN = fileURLToPath(new URL('../bin/photosync.js', import.meta.url));

describe('serving from the read cache [sqlite]', () => {
  let store: TestStore;
  let services: Services;
  /** A second connection to the same file, as a second server instance has. */
  let other: Services;
  let app: App;
  let subject: DirectoryUser;
  let viewer: DirectoryUser;
  let token: string;

  beforeAll(async () => {
    store = await createTestStore('sqlite');
    services = await openTestServices(store);
    other = await openTestServices(store);
    app = await buildApp(services);
    subject = await makeUser(services, { hasMailbox: false });
    viewer = await makeUser(services);
    token = await createToken(services.database.db, viewer.id, 'test');
  });
  afterAll(async () => {
    await app?.close();
    await services?.close();
    await other?.close();
    await store?.drop();
  });

  const sites = (s: Services) => ({
    db: s.database.db,
    blobs: s.blobs,
    dialect: s.database.dialect,
    lock: s.lock,
    sizes: s.syncSettings().renditionSizes,
  });

  async function picture(headers: Record<string, string> = { authorization: `Bearer ${token}` }) {
    return app.inject({
      url: `/_layouts/15/userphoto.aspx?size=M&accountname=${encodeURIComponent(subject.upn)}`,
      headers,
    });
  }

  async function settledEtag() {
    // Twice: the first read fills the cache, the second is served from it.
    const first = await picture();
    const second = await picture();
    expect(second.headers.etag).toBe(first.headers.etag);
    return second.headers.etag;
  }

  it('serves a picture changed through another connection on the next request', async () => {
    await uploadSitePicture(sites(services), subject, await solidJpeg([200, 30, 30], 200));
    const before = await settledEtag();
    await uploadSitePicture(sites(other), subject, await solidJpeg([30, 200, 30], 200));
    const after = await picture();
    expect(after.statusCode).toBe(200);
    expect(after.headers.etag).not.toBe(before);
  });

  it('serves a picture changed by another process (the CLI) on the next request', async () => {
    const before = await settledEtag();
    const file = path.join(store.dataDir, 'blue.jpg');
    await fs.writeFile(file, await solidJpeg([30, 30, 200], 200));
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, 'site-photo', 'set', subject.upn, file], {
        env: { PATH: process.env.PATH ?? '', ...store.env },
        stdio: 'ignore',
      });
      child.on('error', reject);
      child.on('close', resolve);
    });
    expect(code).toBe(0);
    const after = await picture();
    expect(after.headers.etag).not.toBe(before);
  }, 60_000);

  it('refuses a token on the next request once another connection disables its user', async () => {
    const user = await makeUser(services);
    const own = await createToken(services.database.db, user.id, 'test');
    const headers = { authorization: `Bearer ${own}` };
    expect((await picture(headers)).statusCode).toBe(200);
    expect((await picture(headers)).statusCode).toBe(200);
    await other.database.db.updateTable('directory_users').set({ enabled: 0 }).where('id', '=', user.id).execute();
    expect((await picture(headers)).statusCode).toBe(401);
  });

  it('refuses a session on the next request once it is ended in this process', async () => {
    const session = await createSession(services.database.db, viewer.id, 60_000);
    const headers = { cookie: `${SESSION_COOKIE}=${session}` };
    expect((await picture(headers)).statusCode).toBe(200);
    expect((await picture(headers)).statusCode).toBe(200);
    await endSession(services.database.db, session);
    expect((await picture(headers)).statusCode).toBe(401);
  });

  it('judges a token’s expiry on every request, cached or not', async () => {
    const shortLived = await createToken(services.database.db, viewer.id, 'test', 60_000);
    const headers = { authorization: `Bearer ${shortLived}` };
    expect((await picture(headers)).statusCode).toBe(200);
    expect((await picture(headers)).statusCode).toBe(200);
    // The clock moves past the expiry; nothing is committed, so the cached row would still answer.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 60_001 });
    try {
      expect((await picture(headers)).statusCode).toBe(401);
    } finally {
      vi.useRealTimers();
    }
  });
});
