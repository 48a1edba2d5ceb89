import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import type { DirectoryUser } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import { getRendition } from '../src/sites/profiles.js';
import { bearer, userToken } from './support/apps.js';
import { runCommand } from './support/cli.js';
import { counterValue, giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import {
  createTestStore,
  describeEachDialect,
  openTestServices,
  testDialects,
  type TestDialect,
  type TestStore,
} from './support/services.js';

// The administrator's settings as several processes on one database see them: a change made
// through one instance is what the next sync on another works from, however long that one was
// idle (on PostgreSQL from the change's notice); and the rendition sizes a server's environment
// sets are the sizes in use for every process, which a command run with other sizes in its
// environment does not change.

/** Two instances (A and B) on one fresh store, and a user synced at the default sizes. */
function useTwoInstances(dialect: TestDialect) {
  const context = {} as { store: TestStore; a: Services; b: Services; user: DirectoryUser; admin: DirectoryUser };
  beforeAll(async () => {
    context.store = await createTestStore(dialect);
    context.a = await openTestServices(context.store);
    context.b = await openTestServices(context.store);
    context.user = await makeUser(context.a);
    context.admin = await makeUser(context.a, { isAdmin: true });
    await giveMailPhoto(context.a, context.user, await solidJpeg([200, 40, 40]));
    expect((await context.b.sync.sync(context.user, 'sharepoint_tile')).outcome).toBe('synced');
  });
  afterAll(async () => {
    await context.a?.close();
    await context.b?.close();
    await context.store?.drop();
  });
  return context;
}

const sideOfL = async (services: Services, user: DirectoryUser) =>
  (await getRendition(services.database.db, user.id, 'L'))?.side;

/** The user's state as the console and `photosync status` show it. */
async function stateOf(services: Services, user: DirectoryUser) {
  const row = await services.database.db
    .selectFrom('admin_user_status')
    .select('state')
    .where('user_id', '=', user.id)
    .executeTakeFirst();
  return row?.state;
}

describeEachDialect('settings changed through another instance', (dialect) => {
  const context = useTwoInstances(dialect);

  it('the next sync on an instance idle since before the change works from the new sizes', async () => {
    const { a, b, user, admin } = context;
    await b.settings.refresh();
    await a.settings.update({ renditionSizes: { S: 48, M: 72, L: 200 } }, admin);
    // Longer than an instance keeps its last read without looking again.
    await sleep(2_100);
    const result = await b.sync.sync(user, 'sharepoint_tile');
    expect(result.outcome).toBe('synced');
    expect(await sideOfL(b, user)).toBe(200);
  });

  it('a placeholder served by an instance idle since before the change has the new size, kept or not', async () => {
    const { a, b, admin } = context;
    const nobody = await makeUser(a);
    const token = await userToken(b, admin);
    const app = await buildApp(b);
    try {
      // Over real HTTP: a picture asked for again is answered from what was kept, before the framework.
      const address = await app.listen({ port: 0, host: '127.0.0.1' });
      const placeholderSide = async () => {
        const response = await fetch(`${address}/_layouts/15/userphoto.aspx?size=L&accountname=${nobody.upn}`, {
          headers: bearer(token),
        });
        expect(response.status).toBe(200);
        return (await sharp(Buffer.from(await response.arrayBuffer())).metadata()).width;
      };
      const keptAnswers = () => counterValue(b.metrics.picturesFromMemory);
      await b.settings.refresh();
      const before = b.settings.current().renditionSizes.L;
      expect(await placeholderSide()).toBe(before);
      let kept = await keptAnswers();
      expect(await placeholderSide()).toBe(before);
      expect(await keptAnswers()).toBe(kept + 1);
      await a.settings.update({ renditionSizes: { S: 48, M: 72, L: 220 } }, admin);
      // Longer than an instance keeps its last read without looking again.
      await sleep(2_100);
      expect(await placeholderSide()).toBe(220);
      kept = await keptAnswers();
      expect(await placeholderSide()).toBe(220);
      expect(await keptAnswers()).toBe(kept + 1);
    } finally {
      await app.close();
    }
  });
});

for (const dialect of testDialects().filter((d) => d === 'postgres')) {
  describe(`settings changed through another instance [${dialect}]`, () => {
    const context = useTwoInstances(dialect);

    it('count on the other instance from the change’s notice, not from its next look', async () => {
      const { a, b, user, admin } = context;
      // Read just now: without a notice, B would not look again for two seconds.
      await b.settings.refresh();
      await a.settings.update({ renditionSizes: { S: 40, M: 80, L: 240 } }, admin);
      const until = Date.now() + 1_000;
      while (b.settings.current().renditionSizes.L !== 240 && Date.now() < until) await sleep(5);
      expect(b.settings.current().renditionSizes).toEqual({ S: 40, M: 80, L: 240 });
      expect((await b.sync.sync(user, 'sharepoint_tile')).outcome).toBe('synced');
      expect(await sideOfL(b, user)).toBe(240);
    });
  });
}

describeEachDialect('the rendition sizes in use', (dialect) => {
  let store: TestStore;
  let server: Services;
  let user: DirectoryUser;
  beforeAll(async () => {
    store = await createTestStore(dialect);
    server = await openTestServices(store, { PHOTOSYNC_RENDITION_SIZES: '48,72,200' });
    user = await makeUser(server);
    await giveMailPhoto(server, user, await solidJpeg([40, 40, 200]));
    await server.sync.sync(user, 'sharepoint_tile');
  });
  afterAll(async () => {
    await server?.close();
    await store?.drop();
  });

  it('are the server’s: a command run without its PHOTOSYNC_RENDITION_SIZES changes nobody’s state', async () => {
    expect(await stateOf(server, user)).toBe('in_step');
    // The command's own environment says the default sizes (48,72,300).
    const status = await runCommand(['status'], store.env);
    expect(status.code, status.stderr).toBe(0);
    expect(await stateOf(server, user)).toBe('in_step');
    // Its syncs make the sizes in use, too.
    const command = await openTestServices(store, {}, { setsSizes: false });
    try {
      expect(command.settings.current().renditionSizes).toEqual({ S: 48, M: 72, L: 200 });
      expect((await command.sync.sync(user, 'admin')).outcome).toBe('unchanged');
    } finally {
      await command.close();
    }
    expect(await sideOfL(server, user)).toBe(200);
  });

  it('change when a server starts with others, for every process', async () => {
    const restarted = await openTestServices(store, { PHOTOSYNC_RENDITION_SIZES: '48,72,260' });
    try {
      expect(await stateOf(server, user)).toBe('changed');
      await server.settings.refresh();
      expect(server.settings.current().renditionSizes).toEqual({ S: 48, M: 72, L: 260 });
      expect((await server.sync.sync(user, 'sharepoint_tile')).outcome).toBe('synced');
      expect(await sideOfL(server, user)).toBe(260);
    } finally {
      await restarted.close();
    }
  });
});
