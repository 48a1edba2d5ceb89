import { beforeAll, expect, it } from 'vitest';
import type { DirectoryUser } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import { getRendition, getSiteProfile } from '../src/sites/profiles.js';
import type { SyncTrigger } from '../src/sync/history.js';
import {
  closeTo,
  corruptBlob,
  giveMailPhoto,
  giveMailPhotoAlone,
  makeUser,
  meanColour,
  solidJpeg,
} from './support/factories.js';
import { describeEachDialect, useTestServices } from './support/services.js';

// What a sync costs in round trips to PostgreSQL, counted by the pool's own clients (every
// statement sent is one). An unchanged check reads its inputs and records itself. A changed photo,
// whatever the action (the owner's picture request, a tile click), reads its inputs and takes the
// lock in one statement when the sites look out of step, with a fresh read of them and of the
// sites' renditions made when the photo was set (their rows with their bytes) once it is held;
// then switches the pictures and records the attempt in one statement, and releases the lock. A
// photo kept without those renditions reads its master's bytes too, once no rows are found: one
// more.

const RED: [number, number, number] = [220, 30, 30];
const BLUE: [number, number, number] = [30, 60, 220];

describeEachDialect('round trips of a sync', (dialect) => {
  const context = useTestServices(dialect);
  let services: Services;
  beforeAll(() => ({ services } = context));

  /** The sync's outcome and the statements it sent, its lock's release included. */
  async function counted(user: DirectoryUser, trigger: SyncTrigger) {
    // A lock's release is sent while its holder goes on (the sync records its attempt meanwhile).
    // This process takes the user's lock only once the last release is done, so a count taken
    // holding it has every earlier statement in: less its own take, plus its release to come.
    const step = dialect === 'postgres' ? 1 : 0;
    // The settings are read again every two seconds, in the background of whoever asks for them.
    await services.settings.refresh();
    const counter = () => services.lock.run(user.id, () => Promise.resolve(services.database.roundTrips()));
    const before = (await counter()) + step;
    const result = await services.sync.sync(user, trigger);
    const after = (await counter()) - step;
    return { outcome: result.outcome, roundTrips: after - before };
  }

  const expected =
    dialect === 'postgres' ? { changed: 3, tile: 3, unchanged: 2 } : { changed: 0, tile: 0, unchanged: 0 };

  it(`changed: ${expected.changed}, unchanged: ${expected.unchanged}, and the pictures are the new ones`, async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg(RED));
    expect((await counted(user, 'admin')).outcome).toBe('synced'); // the first makes the profile

    const blue = await giveMailPhoto(services, user, await solidJpeg(BLUE));
    expect(await counted(user, 'photo_request')).toEqual({ outcome: 'synced', roundTrips: expected.changed });
    expect((await getSiteProfile(services.database.db, user.id))?.syncedEtag).toBe(blue.etag);
    for (const size of ['S', 'M', 'L'] as const) {
      const rendition = await getRendition(services.database.db, user.id, size);
      const bytes = rendition && (await services.blobs.get(rendition.blobKey));
      expect(closeTo(await meanColour(bytes!), BLUE), size).toBe(true);
    }

    expect(await counted(user, 'photo_request')).toEqual({ outcome: 'unchanged', roundTrips: expected.unchanged });
    expect(await counted(user, 'sharepoint_tile')).toEqual({ outcome: 'unchanged', roundTrips: expected.unchanged });
  });

  it(`a tile click on a changed photo: ${expected.tile}, the inputs read with the lock; unchanged: ${expected.unchanged}, no lock`, async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg(RED));
    expect((await counted(user, 'admin')).outcome).toBe('synced');
    const blue = await giveMailPhoto(services, user, await solidJpeg(BLUE));
    expect(await counted(user, 'sharepoint_tile')).toEqual({ outcome: 'synced', roundTrips: expected.tile });
    expect((await getSiteProfile(services.database.db, user.id))?.syncedEtag).toBe(blue.etag);
    const rendition = await getRendition(services.database.db, user.id, 'M');
    expect(closeTo(await meanColour((await services.blobs.get(rendition!.blobKey))!), BLUE)).toBe(true);
    // In step: the same one statement reads the inputs and takes no lock; the record follows.
    expect(await counted(user, 'onedrive_tile')).toEqual({ outcome: 'unchanged', roundTrips: expected.unchanged });
  });

  it('an in-step check after a quiet moment reads no settings: on PostgreSQL every change of them is announced', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg(RED));
    expect((await counted(user, 'admin')).outcome).toBe('synced');
    // Longer than a copy of the settings counts as current where nothing announces their changes.
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const before = services.database.roundTrips();
    const result = await services.sync.sync(user, 'sharepoint_tile');
    expect({ outcome: result.outcome, roundTrips: services.database.roundTrips() - before }).toEqual({
      outcome: 'unchanged',
      roundTrips: expected.unchanged,
    });
  });

  it('a view of a picture backing off takes no lock: it reads its inputs and is skipped', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg(RED));
    expect((await counted(user, 'admin')).outcome).toBe('synced');
    // Kept without the sites' renditions, so the sync decodes the damaged master and fails.
    const broken = await giveMailPhotoAlone(services, user, await solidJpeg(BLUE));
    await corruptBlob(services, broken.blobKey);
    expect((await services.sync.sync(user, 'sharepoint_tile')).outcome).toBe('failed');
    await services.sync.settle();
    await services.settings.refresh();
    // The inputs read (they changed with the failure's record) and the skip recorded: no lock
    // taken or released (it was three, and waited for a lock another sync held).
    const before = services.database.roundTrips();
    const view = await services.sync.sync(user, 'photo_request');
    expect(view.outcome).toBe('backing_off');
    expect(services.database.roundTrips() - before).toBe(dialect === 'postgres' ? 2 : 0);
  });

  it('a changed photo of a user never synced makes the profile first, then switches in the same way', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg(RED));
    // The profile is made outside the switch (a file name taken meanwhile is retried): one read, one insert.
    const first = dialect === 'postgres' ? expected.tile + 2 : 0;
    expect(await counted(user, 'sharepoint_tile')).toEqual({ outcome: 'synced', roundTrips: first });
  });

  it("a photo kept without the sites' renditions is rendered at the sync, its master read once none are found", async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg(RED));
    expect((await counted(user, 'admin')).outcome).toBe('synced');
    const renders = () => services.metrics.renders.get();
    const atSync = async () => (await renders()).values.find((v) => v.labels.made === 'at_sync')?.value ?? 0;
    const before = await atSync();
    await giveMailPhotoAlone(services, user, await solidJpeg(BLUE));
    const withMaster = dialect === 'postgres' ? expected.changed + 1 : 0;
    expect(await counted(user, 'photo_request')).toEqual({ outcome: 'synced', roundTrips: withMaster });
    expect(await atSync()).toBe(before + 1);
    const rendition = await getRendition(services.database.db, user.id, 'L');
    expect(closeTo(await meanColour((await services.blobs.get(rendition!.blobKey))!), BLUE)).toBe(true);
  });
});
