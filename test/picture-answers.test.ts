import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { App } from '../src/app.js';
import { createApp } from '../src/directory/apps.js';
import { createSession, createToken } from '../src/directory/credentials.js';
import { issueAccessToken } from '../src/directory/tokens.js';
import type { DirectoryUser } from '../src/directory/users.js';
import { SESSION_COOKIE } from '../src/http/auth.js';
import type { Services } from '../src/services.js';
import { getSiteProfile } from '../src/sites/profiles.js';
import { listen } from './support/browser.js';
import { counterValue, giveMailPhoto, giveSitePicture, makeUser, solidJpeg } from './support/factories.js';
import { describeEachDialect, openTestServices, useTestServices } from './support/services.js';

// A picture asked for again with the same credential, address and If-None-Match is answered from
// memory before routing (src/sites/picture-answers.ts). Such an answer must be the very answer the
// whole path gives, and nobody else's: these tests ask twice over real HTTP and compare.

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  fromMemory: boolean;
}

describeEachDialect('picture answers kept in memory', (dialect) => {
  const ctx = useTestServices(dialect);
  let services: Services;
  let app: App;
  let baseUrl: string;
  let subject: DirectoryUser;
  let viewer: DirectoryUser;
  let token: string;

  beforeAll(async () => {
    services = ctx.services;
    ({ app, baseUrl } = await listen(services));
    subject = await makeUser(services, { hasMailbox: false });
    viewer = await makeUser(services);
    token = await createToken(services.database.db, viewer.id, 'test');
    await giveSitePicture(services, subject, await solidJpeg([200, 60, 30], 200));
  });
  afterAll(async () => {
    await app?.close();
  });

  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  async function ask(url: string, headers: Record<string, string>, method = 'GET'): Promise<Answer> {
    const before = await counterValue(services.metrics.picturesFromMemory);
    const response = await fetch(`${baseUrl}${url}`, { method, headers });
    const body = Buffer.from(await response.arrayBuffer());
    const fromMemory = (await counterValue(services.metrics.picturesFromMemory)) > before;
    const kept: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      if (name !== 'date') kept[name] = value;
    });
    return { status: response.status, headers: kept, body, fromMemory };
  }

  /** Asks twice; the second answer must come from memory and be the first one exactly. */
  async function askTwice(url: string, headers: Record<string, string>) {
    const first = await ask(url, headers);
    const second = await ask(url, headers);
    expect(first.fromMemory).toBe(false);
    expect(second.fromMemory).toBe(true);
    expect(second.status).toBe(first.status);
    expect(second.headers).toEqual(first.headers);
    expect(second.body.equals(first.body)).toBe(true);
    return second;
  }

  const photo = (upn: string, size = 'M') =>
    `/_layouts/15/userphoto.aspx?size=${size}&accountname=${encodeURIComponent(upn)}`;

  it('gives a repeated picture request the whole path’s answer: 200 and 304, token and session', async () => {
    const bearer = { authorization: `Bearer ${token}` };
    const full = await askTwice(photo(subject.upn), bearer);
    expect(full.status).toBe(200);
    expect(full.headers['content-type']).toBe('image/jpeg');
    expect(full.headers['content-length']).toBe(String(full.body.length));
    const etag = full.headers.etag!;
    expect((await askTwice(photo(subject.upn), { ...bearer, 'if-none-match': etag })).status).toBe(304);

    const session = await createSession(services.database.db, viewer.id, 60_000);
    const cookie = { cookie: `${SESSION_COOKIE}=${session}` };
    expect((await askTwice(photo(subject.upn), cookie)).headers.etag).toBe(etag);
    expect((await askTwice(photo(subject.upn), { ...cookie, 'if-none-match': etag })).status).toBe(304);
  });

  it('keeps the answers to a signed token until it expires', async () => {
    const app = await createApp(services.database.db, 'a SharePoint client', ['User.Read']);
    const lifetimeSeconds = 3600;
    const { accessToken } = await issueAccessToken(
      { db: services.database.db, publicUrl: services.config.publicUrl },
      { kind: 'user', user: viewer, scopes: ['User.Read', 'ProfilePhoto.Read.All'], clientId: app.clientId },
      { lifetimeSeconds },
    );
    const headers = { authorization: `Bearer ${accessToken}` };
    expect((await askTwice(photo(subject.upn), headers)).status).toBe(200);
    // Past its expiry the kept answer is not given; the whole path refuses the token.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + lifetimeSeconds * 1000 + 1000 });
    try {
      expect(await ask(photo(subject.upn), headers)).toMatchObject({ status: 401, fromMemory: false });
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps the placeholder and the library’s files alike', async () => {
    const bearer = { authorization: `Bearer ${token}` };
    const nobody = await makeUser(services, { hasMailbox: false });
    const placeholder = await askTwice(photo(nobody.upn, 'S'), bearer);
    expect(placeholder.status).toBe(200);
    expect(placeholder.body.length).toBeGreaterThan(0);

    const profile = await getSiteProfile(services.database.db, subject.id);
    const stem = subject.upn.replace(/[@.]/g, '_');
    const file = await askTwice(
      `/User%20Photos/Profile%20Pictures/${stem}_MThumb.jpg?t=${profile?.pictureTimestamp}`,
      bearer,
    );
    expect(file.status).toBe(200);
    expect(file.headers['cache-control']).toBe('private, max-age=31536000, immutable');
  });

  it('never gives one credential’s answer to another, nor to a request that differs in what it has', async () => {
    const url = photo(subject.upn);
    // A token of the viewer's own that may see only its own user's picture, made first: a commit
    // would drop every kept answer.
    const own = await createToken(services.database.db, viewer.id, 'own only', undefined, ['User.Read']);
    await askTwice(url, { authorization: `Bearer ${token}` });
    const refused = await ask(url, { authorization: `Bearer ${own}` });
    expect(refused).toMatchObject({ status: 403, fromMemory: false });
    expect((await ask(url, { authorization: `Bearer ${own}` })).status).toBe(403);
    // No credential at all, and a made-up one.
    expect(await ask(url, {})).toMatchObject({ status: 401, fromMemory: false });
    expect(await ask(url, { authorization: `Bearer ${token}x` })).toMatchObject({ status: 401, fromMemory: false });
    // The same credential with another If-None-Match, and with a tag that is not the picture's.
    const stale = await ask(url, { authorization: `Bearer ${token}`, 'if-none-match': '"not-it"' });
    expect(stale).toMatchObject({ status: 200, fromMemory: false });
    // HEAD takes the whole path.
    const head = await ask(url, { authorization: `Bearer ${token}` }, 'HEAD');
    expect(head).toMatchObject({ status: 200, fromMemory: false });
  });

  it('never keeps the owner’s own L picture: every request checks the mail photo', async () => {
    const owner = await makeUser(services);
    const ownToken = { authorization: `Bearer ${await createToken(services.database.db, owner.id, 'test')}` };
    await giveMailPhoto(services, owner, await solidJpeg([30, 90, 200], 200));
    const outcomes: Array<string | undefined> = [];
    for (let i = 0; i < 3; i++) {
      const answer = await ask(photo(owner.upn, 'L'), ownToken);
      expect(answer).toMatchObject({ status: 200, fromMemory: false });
      outcomes.push(answer.headers['x-photosync-sync']);
    }
    expect(outcomes).toEqual(['synced', 'unchanged', 'unchanged']);
    // Their M picture, which no sync is asked for, is kept.
    await askTwice(photo(owner.upn, 'M'), ownToken);
  });

  it('gives no kept placeholder once this process has read new rendition sizes another instance saved', async () => {
    // PostgreSQL: each instance reads the settings again at another's change's notice. SQLite has
    // no notices: a copy read over 2 s ago is read again before a placeholder is chosen (that commits nothing).
    const other = await openTestServices(ctx.store);
    try {
      const admin = await makeUser(services, { isAdmin: true });
      const nobody = await makeUser(services, { hasMailbox: false });
      const bearer = { authorization: `Bearer ${token}` };
      const url = photo(nobody.upn);
      const before = await askTwice(url, bearer);
      await pause(2100);
      const sizes = other.syncSettings().renditionSizes;
      await other.settings.update({ renditionSizes: { ...sizes, M: sizes.M + 24 } }, admin);
      if (dialect === 'postgres') {
        const until = Date.now() + 1000;
        while (services.syncSettings().renditionSizes.M === sizes.M && Date.now() < until) await pause(5);
        expect(services.syncSettings().renditionSizes.M).toBe(sizes.M + 24);
      }
      // The first request after the commit: on SQLite, this process last read the settings over 2 s ago.
      const now = await ask(url, bearer);
      expect(now).toMatchObject({ status: 200, fromMemory: false });
      expect(now.headers.etag).not.toBe(before.headers.etag);
    } finally {
      await other.close();
    }
  }, 20_000);

  it('answers a request padded with parameters the route ignores, but does not keep it', async () => {
    const bearer = { authorization: `Bearer ${token}` };
    const padded = `${photo(subject.upn)}&pad=${'x'.repeat(3000)}`;
    expect(await ask(padded, bearer)).toMatchObject({ status: 200, fromMemory: false });
    expect(await ask(padded, bearer)).toMatchObject({ status: 200, fromMemory: false });
  });
});
