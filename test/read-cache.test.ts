import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSession, createToken, endSession } from '../src/directory/credentials.js';
import type { DirectoryUser } from '../src/directory/users.js';
import type { App } from '../src/app.js';
import type { Services } from '../src/services.js';
import { SESSION_COOKIE } from '../src/http/auth.js';
import { listen } from './support/browser.js';
import { counterValue, giveMailPhoto, giveSitePicture, makeUser, solidJpeg } from './support/factories.js';
import { createTestStore, openTestServices, testDialects, type TestStore } from './support/services.js';

// The serving path keeps token, session and picture rows in memory between commits, and the
// answers to repeated picture requests (src/sites/picture-answers.ts), which only a listening
// server gives, so these tests ask over real HTTP. They change what it keeps from this process,
// from another connection and from another process, and expect the very next request to see the change.

/** A GET over HTTP, answered as app.inject answers, and whether the answer was a kept one. */
async function get(services: Services, baseUrl: string, url: string, headers: Record<string, string>) {
  const kept = await counterValue(services.metrics.picturesFromMemory);
  const response = await fetch(`${baseUrl}${url}`, { headers });
  const body = Buffer.from(await response.arrayBuffer());
  const fromMemory = (await counterValue(services.metrics.picturesFromMemory)) > kept;
  const answered: Record<string, string> = {};
  response.headers.forEach((value, name) => (answered[name] = value));
  return { statusCode: response.status, headers: answered, body, fromMemory };
}

const BIN = fileURLToPath(new URL('../bin/photosync.js', import.meta.url));

describe('serving from the read cache [sqlite]', () => {
  let store: TestStore;
  let services: Services;
  /** A second connection to the same file, as a second server instance has. */
  let other: Services;
  let app: App;
  let baseUrl: string;
  let subject: DirectoryUser;
  let viewer: DirectoryUser;
  let token: string;

  beforeAll(async () => {
    store = await createTestStore('sqlite');
    services = await openTestServices(store);
    other = await openTestServices(store);
    ({ app, baseUrl } = await listen(services));
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

  async function picture(headers: Record<string, string> = { authorization: `Bearer ${token}` }) {
    return get(
      services,
      baseUrl,
      `/_layouts/15/userphoto.aspx?size=M&accountname=${encodeURIComponent(subject.upn)}`,
      headers,
    );
  }

  async function settledEtag() {
    // Twice: the first read fills the cache, the second is served from it.
    const first = await picture();
    const second = await picture();
    expect(second.headers.etag).toBe(first.headers.etag);
    expect(second.fromMemory).toBe(true);
    return second.headers.etag;
  }

  it('serves a picture changed through another connection on the next request', async () => {
    await giveSitePicture(services, subject, await solidJpeg([200, 30, 30], 200));
    const before = await settledEtag();
    await giveSitePicture(other, subject, await solidJpeg([30, 200, 30], 200));
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
    expect(await picture(headers)).toMatchObject({ statusCode: 200, fromMemory: true });
    await other.database.db.updateTable('directory_users').set({ enabled: 0 }).where('id', '=', user.id).execute();
    expect((await picture(headers)).statusCode).toBe(401);
  });

  it('refuses a session on the next request once it is ended in this process', async () => {
    const session = await createSession(services.database.db, viewer.id, 60_000);
    const headers = { cookie: `${SESSION_COOKIE}=${session}` };
    expect((await picture(headers)).statusCode).toBe(200);
    expect(await picture(headers)).toMatchObject({ statusCode: 200, fromMemory: true });
    await endSession(services.database.db, session);
    expect((await picture(headers)).statusCode).toBe(401);
  });

  it('judges a token’s expiry on every request, cached or not', async () => {
    const shortLived = await createToken(services.database.db, viewer.id, 'test', 60_000);
    const headers = { authorization: `Bearer ${shortLived}` };
    expect((await picture(headers)).statusCode).toBe(200);
    expect(await picture(headers)).toMatchObject({ statusCode: 200, fromMemory: true });
    // The clock moves past the expiry; nothing is committed, so the cached row would still answer.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 60_001 });
    try {
      expect((await picture(headers)).statusCode).toBe(401);
    } finally {
      vi.useRealTimers();
    }
  });
});

// PostgreSQL keeps the serving path's rows in memory too, emptied by the notices the tables send
// at commit (LISTEN/NOTIFY). This process's own changes are seen by its very next request;
// another instance's once its notice has arrived. Round trips are counted by the pool's clients.

const SITES = testDialects().includes('postgres') ? ['postgres' as const] : [];

for (const dialect of SITES) {
  describe(`serving from the read cache [${dialect}]`, () => {
    let store: TestStore;
    let services: Services;
    /** A second instance on the same schema. */
    let other: Services;
    let app: App;
    let baseUrl: string;
    let subject: DirectoryUser;
    let viewer: DirectoryUser;
    let token: string;

    beforeAll(async () => {
      store = await createTestStore(dialect);
      services = await openTestServices(store);
      other = await openTestServices(store);
      ({ app, baseUrl } = await listen(services));
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

    async function picture(headers: Record<string, string> = { authorization: `Bearer ${token}` }, upn = subject.upn) {
      // The settings are read again every two seconds, in the background of whoever asks for them.
      await services.settings.refresh();
      const before = services.database.roundTrips();
      const response = await get(
        services,
        baseUrl,
        `/_layouts/15/userphoto.aspx?size=M&accountname=${encodeURIComponent(upn)}`,
        headers,
      );
      return { response, roundTrips: services.database.roundTrips() - before };
    }

    /** A new user with a token of their own, and the request for their own L picture (which syncs first). */
    async function ownerWithToken() {
      const owner = await makeUser(services);
      const token = await createToken(services.database.db, owner.id, 'test');
      const own = () =>
        get(services, baseUrl, `/_layouts/15/userphoto.aspx?size=L&accountname=${encodeURIComponent(owner.upn)}`, {
          authorization: `Bearer ${token}`,
        });
      return { owner, own };
    }

    /** Until the notice of another instance's commit has arrived. */
    const eventually = (check: () => Promise<unknown>) => expect.poll(check, { timeout: 5000, interval: 20 });

    it('answers a repeated request without a round trip, and sees its own change at once', async () => {
      await giveSitePicture(services, subject, await solidJpeg([200, 30, 30], 200));
      const first = await picture();
      const second = await picture();
      expect(second.response.headers.etag).toBe(first.response.headers.etag);
      // The answer from memory: no round trip.
      expect(second.roundTrips).toBe(0);
      expect(second.response.fromMemory).toBe(true);
      await giveSitePicture(services, subject, await solidJpeg([30, 200, 30], 200));
      const after = await picture();
      expect(after.response.headers.etag).not.toBe(second.response.headers.etag);
    });

    it('sees another instance’s new picture once its notice arrives', async () => {
      await picture();
      const before = (await picture()).response.headers.etag;
      await giveSitePicture(other, subject, await solidJpeg([30, 30, 200], 200));
      await eventually(async () => (await picture()).response.headers.etag).not.toBe(before);
    });

    it('keeps the token through a new picture, here or from another instance: only the picture is read again', async () => {
      const { owner, own } = await ownerWithToken();
      await giveMailPhoto(services, owner, await solidJpeg([200, 200, 30], 200));
      expect((await own()).headers['x-photosync-sync']).toBe('synced');
      await picture(undefined, owner.upn);
      expect((await picture(undefined, owner.upn)).roundTrips).toBe(0);
      // The owner's new photo, synced on their request here.
      await giveMailPhoto(services, owner, await solidJpeg([30, 200, 200], 200));
      expect((await own()).headers['x-photosync-sync']).toBe('synced');
      const here = await picture(undefined, owner.upn);
      // The picture's row; the viewer's token, its user and app came from memory, and the new
      // rendition's bytes were kept when the sync switched to it.
      expect(here.roundTrips).toBe(1);
      expect(await picture(undefined, owner.upn)).toMatchObject({ roundTrips: 0, response: { fromMemory: true } });
      // Another instance's new picture: once its notice has arrived, the picture's row is read again
      // and its bytes (which this instance has not seen), and the token still comes from memory.
      await giveSitePicture(other, owner, await solidJpeg([30, 30, 200], 200));
      let after: Awaited<ReturnType<typeof picture>> | undefined;
      await eventually(async () => {
        const seen = await picture(undefined, owner.upn);
        if (seen.response.headers.etag === here.response.headers.etag) return 'the old picture';
        after = seen;
        return 'the new one';
      }).toBe('the new one');
      expect(after!.roundTrips).toBe(2);
      expect(await picture(undefined, owner.upn)).toMatchObject({ roundTrips: 0, response: { fromMemory: true } });
    });

    it('starts the sync of the owner’s own L picture while it reads whose picture it is', async () => {
      const { owner, own } = await ownerWithToken();
      await giveMailPhoto(services, owner, await solidJpeg([120, 30, 200], 200));
      expect((await own()).headers['x-photosync-sync']).toBe('synced');
      await giveMailPhoto(services, owner, await solidJpeg([30, 120, 200], 200));
      const { default: pg } = await import('pg');
      const blocker = new pg.Client({ connectionString: store.databaseUrl });
      await blocker.connect();
      try {
        // The renditions held by another transaction: the read of whose picture it is (and which
        // rendition) waits; the sync does not: its inputs read with the user's lock, then its
        // switch, which waits for the renditions too.
        await blocker.query(`BEGIN; LOCK TABLE "${store.schema}".site_renditions IN ACCESS EXCLUSIVE MODE`);
        await services.settings.refresh();
        const before = services.database.roundTrips();
        const answer = own();
        await expect.poll(() => services.database.roundTrips() - before).toBe(3);
        await blocker.query('COMMIT');
        expect((await answer).headers['x-photosync-sync']).toBe('synced');
      } finally {
        await blocker.end();
      }
    });

    it('decides an in-step check of one’s own picture from inputs kept in memory, until a new mail photo', async () => {
      const { owner, own: ownPicture } = await ownerWithToken();
      const own = async () => (await ownPicture()).headers['x-photosync-sync'];
      await giveMailPhoto(services, owner, await solidJpeg([60, 160, 60], 200));
      expect(await own()).toBe('synced');
      await services.sync.settle();
      await services.settings.refresh();
      const before = services.database.roundTrips();
      for (let i = 0; i < 5; i++) expect(await own()).toBe('unchanged');
      await services.sync.settle();
      // The picture's row (new since the sync) and the inputs read once, then kept; the five checks
      // written as one record. Reading the inputs at every check made it seven.
      expect(services.database.roundTrips() - before).toBe(3);
      // Another instance's new mail photo: once its notice has arrived, the next view syncs it.
      await giveMailPhoto(other, owner, await solidJpeg([160, 60, 60], 200));
      await eventually(own).toBe('synced');
    });

    it('keeps a sync’s inputs through another instance’s checks, and reads them again after its new photo or back-off', async () => {
      const owner = await makeUser(services);
      await giveMailPhoto(services, owner, await solidJpeg([90, 90, 160], 200));
      expect((await services.sync.sync(owner, 'photo_request')).outcome).toBe('synced');
      await services.sync.settle();
      const first = await services.sync.readInputs(owner.id);
      const cached = async () => {
        const before = services.database.roundTrips();
        const inputs = await services.sync.readInputs(owner.id);
        return { inputs, roundTrips: services.database.roundTrips() - before };
      };
      expect((await cached()).roundTrips).toBe(0);
      // Another instance's in-step checks write their time and outcome, which no decision here reads.
      expect((await other.sync.sync(owner, 'photo_request')).outcome).toBe('unchanged');
      expect((await other.sync.sync(owner, 'sharepoint_tile')).outcome).toBe('unchanged');
      await other.sync.settle();
      // Notices arrive in commit order: once a later one has (the pictures' alone, which the inputs
      // were not read from), any the checks sent would have too.
      await picture(undefined, owner.upn);
      expect((await picture(undefined, owner.upn)).roundTrips).toBe(0);
      await other.database.db
        .updateTable('site_renditions')
        .set((eb) => ({ side: eb.ref('side') }))
        .where('user_id', '=', owner.id)
        .execute();
      await eventually(async () => (await picture(undefined, owner.upn)).roundTrips).toBeGreaterThan(0);
      expect((await cached()).roundTrips).toBe(0);
      // Its new mail photo is read again once the notice arrives.
      await giveMailPhoto(other, owner, await solidJpeg([160, 90, 90], 200));
      await eventually(async () => (await cached()).inputs.mail?.etag).not.toBe(first.mail?.etag);
      // So is a back-off it records.
      const retryAfter = Date.now() + 60_000;
      await other.database.db
        .updateTable('sync_state')
        .set({ retry_after: retryAfter })
        .where('user_id', '=', owner.id)
        .execute();
      await eventually(async () => (await cached()).inputs.state?.retryAfter).toBe(retryAfter);
    });

    it('still notifies instances of earlier versions, which listen for the schema’s name only', async () => {
      const { default: pg } = await import('pg');
      const listener = new pg.Client({ connectionString: store.databaseUrl });
      await listener.connect();
      try {
        const heard: Array<[string, string | undefined]> = [];
        listener.on('notification', (notice) => heard.push([notice.channel, notice.payload]));
        await listener.query('LISTEN photosync_changes; LISTEN photosync_topic_changes');
        const user = await makeUser(services);
        await services.database.db
          .updateTable('directory_users')
          .set({ enabled: 0 })
          .where('id', '=', user.id)
          .execute();
        await expect.poll(() => heard.length).toBeGreaterThanOrEqual(2);
        expect(heard).toContainEqual(['photosync_changes', store.schema]);
        expect(heard).toContainEqual(['photosync_topic_changes', `directory ${store.schema}`]);
        expect(heard).not.toContainEqual(['photosync_topic_changes', `pictures ${store.schema}`]);
      } finally {
        await listener.end();
      }
    });

    it('does not keep a row read while another connection’s transaction that changes it is open', async () => {
      const user = await makeUser(services);
      const headers = { authorization: `Bearer ${await createToken(services.database.db, user.id, 'test')}` };
      expect((await picture(headers)).response.statusCode).toBe(200);
      await services.database.db.transaction().execute(async (trx) => {
        await trx.updateTable('directory_users').set({ enabled: 0 }).where('id', '=', user.id).execute();
        // Read (by the pool's other connections) before the commit: still enabled, and not kept.
        expect((await picture(headers)).response.statusCode).toBe(200);
      });
      expect((await picture(headers)).response.statusCode).toBe(401);
    });

    it('refuses a token once another instance disables its user and the notice arrives', async () => {
      const user = await makeUser(services);
      const headers = { authorization: `Bearer ${await createToken(services.database.db, user.id, 'test')}` };
      expect((await picture(headers)).response.statusCode).toBe(200);
      expect(await picture(headers)).toMatchObject({ roundTrips: 0, response: { fromMemory: true } });
      await other.database.db.updateTable('directory_users').set({ enabled: 0 }).where('id', '=', user.id).execute();
      await eventually(async () => (await picture(headers)).response.statusCode).toBe(401);
    });

    it('keeps its rows while the owner views their own picture in step (the check writes nothing kept)', async () => {
      const { owner, own } = await ownerWithToken();
      await giveMailPhoto(services, owner, await solidJpeg([100, 100, 30], 200));
      expect((await own()).headers['x-photosync-sync']).toBe('synced');
      expect((await own()).headers['x-photosync-sync']).toBe('unchanged');
      // Another instance's in-step check of the same owner sends no notice either.
      expect((await other.sync.sync(owner, 'photo_request')).outcome).toBe('unchanged');
      await services.settings.refresh();
      const before = services.database.roundTrips();
      const unchanged = await own();
      expect(unchanged.headers['x-photosync-sync']).toBe('unchanged');
      // The check's record (written once the check is answered); the token, the picture and the
      // sync's inputs came from memory: the other instance's check wrote nothing a decision reads.
      await services.sync.settle();
      expect(services.database.roundTrips() - before).toBe(1);
    });
  });
}
