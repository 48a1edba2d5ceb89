import { spawn } from 'node:child_process';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, expect, it } from 'vitest';
import type { DirectoryUser } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import { getRendition, getSiteProfile } from '../src/sites/profiles.js';
import { listAttempts } from '../src/sync/history.js';
import { removeMailPhoto } from '../src/mail/photo-store.js';
import { closeTo, giveMailPhoto, makeUser, meanColour, solidJpeg } from './support/factories.js';
import { describeEachDialect, useTestServices, type TestStore } from './support/services.js';

const RED: [number, number, number] = [210, 20, 20];
const BLUE: [number, number, number] = [20, 40, 210];
const BIN = path.resolve('bin/photosync.js');

/** Runs `photosync sync` in a child process that kills itself with SIGKILL at `point`. */
function syncKilledAt(store: TestStore, upn: string, point: string): Promise<NodeJS.Signals | number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'sync', upn], {
      env: { PATH: process.env.PATH, ...store.env, NODE_ENV: 'test', PHOTOSYNC_FAULT_INJECTION: point },
      stdio: 'ignore',
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(signal ?? code));
  });
}

describeEachDialect('a sync killed part-way', (dialect) => {
  const context = useTestServices(dialect);
  let services: Services;
  beforeAll(() => ({ services } = context));

  /** Every rendition exists, decodes, has its size, and all three show the same picture. */
  async function picturesAreOneGeneration(user: DirectoryUser, colour: [number, number, number]) {
    const profile = await getSiteProfile(services.database.db, user.id);
    for (const [size, side] of [
      ['S', 48],
      ['M', 72],
      ['L', 300],
    ] as const) {
      const rendition = await getRendition(services.database.db, user.id, size);
      const bytes = rendition && (await services.blobs.get(rendition.blobKey));
      expect(bytes, size).toBeDefined();
      expect((await sharp(bytes).metadata()).width, size).toBe(side);
      expect(closeTo(await meanColour(bytes!), colour), `${size} colour`).toBe(true);
    }
    return profile;
  }

  it('leaves the old complete pictures or the new ones, and the next action completes the sync', async () => {
    const user = await makeUser(services);
    const red = await giveMailPhoto(services, user, await solidJpeg(RED));
    await services.sync.sync(user, 'admin');
    const blue = await giveMailPhoto(services, user, await solidJpeg(BLUE));

    // The history records a switch in the switch's own commit: with the new pictures, never without.
    const switchesTo = async (etag: string) =>
      (await listAttempts(services.database.db, user.id)).filter((a) => a.outcome === 'synced' && a.etagAfter === etag);
    for (const point of ['after-render', 'after-put-S', 'after-put-L', 'before-commit']) {
      expect(await syncKilledAt(context.store, user.upn, point), point).toBe('SIGKILL');
      const profile = await picturesAreOneGeneration(user, RED);
      expect(profile?.syncedEtag, point).toBe(red.etag);
      expect(await switchesTo(blue.etag), point).toEqual([]);
    }

    expect(await syncKilledAt(context.store, user.upn, 'after-commit')).toBe('SIGKILL');
    expect((await picturesAreOneGeneration(user, BLUE))?.syncedEtag).toBe(blue.etag);
    expect(await switchesTo(blue.etag)).toMatchObject([{ trigger: 'admin', etagBefore: red.etag, error: null }]);

    await giveMailPhoto(services, user, await solidJpeg(RED));
    expect(await syncKilledAt(context.store, user.upn, 'before-commit')).toBe('SIGKILL');
    const result = await services.sync.sync(user, 'sharepoint_tile');
    expect(result.outcome).toBe('synced');
    await picturesAreOneGeneration(user, RED);
  }, 120_000); // seven command-line processes start one after another

  it('records a picture taken down in the commit that takes it down', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg(RED));
    await services.sync.sync(user, 'admin');
    await removeMailPhoto(services.mailStore, user);
    expect(await syncKilledAt(context.store, user.upn, 'after-placeholder-commit')).toBe('SIGKILL');
    expect(await getSiteProfile(services.database.db, user.id)).toMatchObject({ placeholderState: 1 });
    const history = await listAttempts(services.database.db, user.id);
    expect(history.filter((a) => a.outcome === 'removed')).toMatchObject([{ trigger: 'admin', etagAfter: null }]);
  }, 60_000);
});
