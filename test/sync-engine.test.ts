import { sql } from 'kysely';
import sharp from 'sharp';
import { beforeAll, expect, it } from 'vitest';
import { setDirectoryPhoto } from '../src/directory/photo.js';
import { deleteUser } from '../src/directory/revocation.js';
import { removeMailPhoto } from '../src/mail/photo-store.js';
import { renderSquareJpegs } from '../src/media/media.js';
import type { Services } from '../src/services.js';
import { pictureTimestampValue, renditionSpec } from '../src/sites/library.js';
import { getRendition, getSiteProfile } from '../src/sites/profiles.js';
import { uploadSitePicture } from '../src/sites/upload.js';
import { attemptCount, listAttempts } from '../src/sync/history.js';
import { listSyncStatus } from '../src/sync/status.js';
import {
  closeTo,
  corruptBlob,
  counterValue,
  giveMailPhoto,
  giveMailPhotoAlone,
  makeUser,
  meanColour,
  solidJpeg,
} from './support/factories.js';
import { describeEachDialect, openTestServices, useTestServices, type TestStore } from './support/services.js';

const RED: [number, number, number] = [220, 30, 30];
const BLUE: [number, number, number] = [30, 60, 220];

describeEachDialect('sync engine', (dialect) => {
  const context = useTestServices(dialect);
  let services: Services;
  let store: TestStore;
  beforeAll(() => ({ services, store } = context));

  const mailDeps = () => ({ db: services.database.db, dialect: services.database.dialect, blobs: services.blobs });

  /**
   * Resolves once a sync started while another instance holds the user's lock is waiting for it, having
   * read what it reads before the lock: on SQLite the photo's bytes (kept renditions or master),
   * read beside the lock; on PostgreSQL nothing (they come with the read under the lock), so the
   * sign is its session waiting on the advisory lock.
   */
  /** `fn` run while another instance on the same database holds the user's lock. */
  async function heldElsewhere(userId: string, fn: () => Promise<void>): Promise<void> {
    const other = await openTestServices(store);
    try {
      await other.lock.run(userId, fn);
    } finally {
      await other.close();
    }
  }

  async function waitingForTheLock(bytesBefore: number): Promise<void> {
    if (dialect === 'postgres') {
      const waiting = async () => {
        const { rows } = await sql<{
          n: number;
        }>`select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted`.execute(
          services.database.db,
        );
        return rows[0]!.n;
      };
      await expect.poll(waiting, { timeout: 10_000 }).toBeGreaterThan(0);
      return;
    }
    await expect
      .poll(() => counterValue(services.metrics.photoBytesRead), { timeout: 10_000 })
      .toBeGreaterThan(bytesBefore);
  }
  const renditionBytes = async (userId: string, size: 'S' | 'M' | 'L') => {
    const rendition = await getRendition(services.database.db, userId, size);
    return rendition && services.blobs.get(rendition.blobKey);
  };
  const spec = () => renditionSpec(services.syncSettings().renditionSizes);
  /** Renders of the sites' renditions so far, made when a photo was set or at a sync. */
  const made = async (when: 'when_set' | 'at_sync') =>
    (await services.metrics.renders.get()).values.find((v) => v.labels.made === when)?.value ?? 0;
  const statusOf = async (upn: string) =>
    (await listSyncStatus(services.database.db, services.config.publicUrl, spec())).find((s) => s.upn === upn)?.state;

  it('does nothing until the user acts: a new mail photo leaves the sites as they were', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg(RED));
    expect(await getSiteProfile(services.database.db, user.id)).toBeUndefined();
    expect(await getRendition(services.database.db, user.id, 'M')).toBeUndefined();
    expect(await listAttempts(services.database.db, user.id)).toEqual([]);
    expect(await statusOf(user.upn)).toBe('never_synced');
  });

  it('answers a sync with the renditions it switched to, as they were committed, version included', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg(RED));
    await services.sync.sync(user, 'admin');
    // A version ahead of the clock (set back since): the next picture's is one past it, not its time.
    const ahead = Date.now() + 60_000;
    await services.database.db
      .updateTable('site_profiles')
      .set({ picture_timestamp: ahead })
      .where('user_id', '=', user.id)
      .execute();
    await giveMailPhoto(services, user, await solidJpeg(BLUE));
    const result = await services.sync.sync(user, 'photo_request');
    expect(result.outcome).toBe('synced');
    for (const size of ['S', 'M', 'L'] as const) {
      expect(result.renditions?.[size]).toEqual(await getRendition(services.database.db, user.id, size));
    }
    expect(result.renditions?.L.pictureTimestamp).toBe(ahead + 1);
    // A sync that switched nothing names no renditions.
    expect((await services.sync.sync(user, 'photo_request')).renditions).toBeUndefined();
  });

  it('renders S, M and L from the mail photo and sets the profile properties', async () => {
    const user = await makeUser(services);
    const photo = await giveMailPhoto(services, user, await solidJpeg(RED));
    const result = await services.sync.sync(user, 'admin');
    expect(result).toMatchObject({ outcome: 'synced', etagBefore: null, etagAfter: photo.etag, error: null });

    const profile = await getSiteProfile(services.database.db, user.id);
    expect(profile).toMatchObject({
      placeholderState: 0,
      exchangeSyncState: 1,
      syncedEtag: photo.etag,
      pictureSource: 'mail',
    });
    expect(profile?.pictureTimestamp).toBeGreaterThan(0);
    for (const [size, side] of [
      ['S', 48],
      ['M', 72],
      ['L', 300],
    ] as const) {
      const bytes = await renditionBytes(user.id, size);
      expect(bytes).toBeDefined();
      const meta = await sharp(bytes).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', side, side]);
      expect(closeTo(await meanColour(bytes!), RED)).toBe(true);
    }
    expect(await statusOf(user.upn)).toBe('in_step');
    const status = (await listSyncStatus(services.database.db, 'https://my.contoso.com', spec())).find(
      (s) => s.upn === user.upn,
    );
    const stem = user.upn.replace(/[@.]/g, '_');
    expect(status?.siteProperties).toEqual({
      PictureURL: `https://my.contoso.com/User%20Photos/Profile%20Pictures/${stem}_MThumb.jpg?t=${profile?.pictureTimestamp}`,
      'SPS-PicturePlaceholderState': '0',
      'SPS-PictureExchangeSyncState': '1',
      'SPS-PictureTimestamp': pictureTimestampValue(profile!.pictureTimestamp!),
    });
  });

  it('takes the renditions made when the mail photo was set: nothing is decoded at the action, and they are what a render then gives', async () => {
    const user = await makeUser(services);
    const photo = await giveMailPhoto(services, user, await solidJpeg(RED));
    const [whenSet, atSync, bytesRead] = [
      await made('when_set'),
      await made('at_sync'),
      await counterValue(services.metrics.photoBytesRead),
    ];

    expect((await services.sync.sync(user, 'photo_request')).outcome).toBe('synced');
    expect([await made('when_set'), await made('at_sync')]).toEqual([whenSet + 1, atSync]);
    const read = (await counterValue(services.metrics.photoBytesRead)) - bytesRead;
    const sizes = services.syncSettings().renditionSizes;
    const rendered = await renderSquareJpegs((await services.blobs.get(photo.blobKey))!, [sizes.S, sizes.M, sizes.L]);
    // What the sync read: the three renditions, not the master.
    expect(read).toBe(rendered.reduce((sum, r) => sum + r.jpeg.length, 0));
    for (const [index, size] of (['S', 'M', 'L'] as const).entries()) {
      expect((await renditionBytes(user.id, size))?.equals(rendered[index]!.jpeg), size).toBe(true);
    }
  });

  it("keeps the sites' renditions of the current mail photo only: replaced, removed or its user removed, they go", async () => {
    const user = await makeUser(services);
    const kept = () =>
      services.database.db
        .selectFrom('mail_photo_renditions')
        .select(['size', 'mail_etag', 'rendition_spec', 'side'])
        .where('user_id', '=', user.id)
        .orderBy('side')
        .execute();
    const keptFiles = async () =>
      (
        await services.database.db
          .selectFrom('mail_photo_renditions')
          .select('blob_key')
          .where('user_id', '=', user.id)
          .execute()
      ).map((row) => row.blob_key);
    const stored = async (keys: string[]) =>
      Promise.all(keys.map(async (key) => (await services.blobs.get(key)) !== undefined));
    const red = await giveMailPhoto(services, user, await solidJpeg(RED));
    const sizes = services.syncSettings().renditionSizes;
    const rows = (etag: string) =>
      (['S', 'M', 'L'] as const).map((size) => ({ size, mail_etag: etag, rendition_spec: spec(), side: sizes[size] }));
    expect(await kept()).toEqual(rows(red.etag));
    // Their bytes are files of the photo store, beside the master's.
    const redFiles = await keptFiles();
    expect(await stored(redFiles)).toEqual([true, true, true]);
    const blue = await giveMailPhoto(services, user, await solidJpeg(BLUE));
    expect(await kept()).toEqual(rows(blue.etag));
    expect(await stored(redFiles)).toEqual([false, false, false]);
    const blueFiles = await keptFiles();
    expect(await removeMailPhoto(services.mailStore, user)).toBe(true);
    expect(await kept()).toEqual([]);
    expect(await stored(blueFiles)).toEqual([false, false, false]);
    await giveMailPhoto(services, user, await solidJpeg(RED));
    const lastFiles = await keptFiles();
    await services.blobs.delete(await deleteUser(services.database.db, user));
    expect(await kept()).toEqual([]);
    expect(await stored(lastFiles)).toEqual([false, false, false]);
  });

  it("renders the master when a kept rendition's file is damaged, and drops that file", async () => {
    const user = await makeUser(services);
    const photo = await giveMailPhoto(services, user, await solidJpeg(BLUE));
    const keptOf = (size: 'S' | 'M' | 'L') =>
      services.database.db
        .selectFrom('mail_photo_renditions')
        .select('blob_key')
        .where('user_id', '=', user.id)
        .where('size', '=', size)
        .executeTakeFirst();
    // The L file overwritten by other bytes (a disk fault, a hand edit): a red JPEG that decodes.
    const large = (await keptOf('L'))!.blob_key;
    await services.blobs.put(large, await solidJpeg(RED, 300));
    expect((await services.sync.sync(user, 'photo_request')).outcome).toBe('synced');
    expect(closeTo(await meanColour((await renditionBytes(user.id, 'L'))!), BLUE)).toBe(true);
    expect(await keptOf('L')).toBeUndefined();
    expect(await services.blobs.get(large)).toBeUndefined();
    // The same picture again makes them anew.
    await giveMailPhoto(services, user, await solidJpeg(BLUE));
    expect(await keptOf('L')).toBeDefined();
    expect((await getSiteProfile(services.database.db, user.id))?.syncedEtag).toBe(photo.etag);
  });

  it("renders the master when a kept rendition's file is gone", async () => {
    const user = await makeUser(services);
    const photo = await giveMailPhoto(services, user, await solidJpeg(BLUE));
    const [file] = await services.database.db
      .selectFrom('mail_photo_renditions')
      .select('blob_key')
      .where('user_id', '=', user.id)
      .where('size', '=', 'M')
      .execute();
    await services.blobs.delete([file!.blob_key]);
    const atSync = await made('at_sync');
    expect((await services.sync.sync(user, 'photo_request')).outcome).toBe('synced');
    expect(await made('at_sync')).toBe(atSync + 1);
    expect(closeTo(await meanColour((await renditionBytes(user.id, 'M'))!), BLUE)).toBe(true);
    expect((await getSiteProfile(services.database.db, user.id))?.syncedEtag).toBe(photo.etag);
    // The rows that named a lost file are gone (a backup would look for it); the others stay.
    const kept = () =>
      services.database.db
        .selectFrom('mail_photo_renditions')
        .select(['size', 'blob_key'])
        .where('user_id', '=', user.id)
        .orderBy('size')
        .execute();
    expect((await kept()).map((row) => row.size)).toEqual(['L', 'S']);
    // The same picture uploaded again repairs them, under the same ETag and change time.
    const again = await giveMailPhoto(services, user, await solidJpeg(BLUE));
    expect([again.etag, again.changedAt]).toEqual([photo.etag, photo.changedAt]);
    const repaired = await kept();
    expect(repaired.map((row) => row.size)).toEqual(['L', 'M', 'S']);
    for (const row of repaired) expect(await services.blobs.get(row.blob_key), row.size).toBeDefined();
    expect(await services.blobs.get(photo.blobKey)).toBeUndefined();
  });

  it('decides "unchanged" from the ETags alone, without reading or rendering any image', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg(BLUE));
    await services.sync.sync(user, 'admin');
    const bytesRead = await counterValue(services.metrics.photoBytesRead);
    const renders = await counterValue(services.metrics.renders);

    const result = await services.sync.sync(user, 'photo_request');

    expect(result.outcome).toBe('unchanged');
    expect(await counterValue(services.metrics.photoBytesRead)).toBe(bytesRead);
    expect(await counterValue(services.metrics.renders)).toBe(renders);
  });

  it('takes a changed photo at the next action and drops the old renditions', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg(RED));
    await services.sync.sync(user, 'admin');
    const oldKey = (await getRendition(services.database.db, user.id, 'L'))!.blobKey;

    const newPhoto = await giveMailPhoto(services, user, await solidJpeg(BLUE));
    expect(await statusOf(user.upn)).toBe('changed');
    expect(closeTo(await meanColour((await renditionBytes(user.id, 'L'))!), RED)).toBe(true);

    const result = await services.sync.sync(user, 'sharepoint_tile');
    expect(result.outcome).toBe('synced');
    expect(result.etagAfter).toBe(newPhoto.etag);
    expect(closeTo(await meanColour((await renditionBytes(user.id, 'L'))!), BLUE)).toBe(true);
    // The replaced files go after the sync has answered.
    await services.sync.settle();
    expect(await services.blobs.get(oldKey)).toBeUndefined();
  });

  it('shows the placeholder once a removed mail photo is synced, and deletes the renditions', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg(RED));
    await services.sync.sync(user, 'admin');
    const keys = await Promise.all(
      (['S', 'M', 'L'] as const).map(
        async (size) => (await getRendition(services.database.db, user.id, size))!.blobKey,
      ),
    );

    await removeMailPhoto(mailDeps(), user);
    expect(await statusOf(user.upn)).toBe('changed');
    const result = await services.sync.sync(user, 'onedrive_tile');

    expect(result).toMatchObject({ outcome: 'removed', etagAfter: null });
    expect(await getSiteProfile(services.database.db, user.id)).toMatchObject({
      placeholderState: 1,
      syncedEtag: null,
    });
    for (const size of ['S', 'M', 'L'] as const)
      expect(await getRendition(services.database.db, user.id, size)).toBeUndefined();
    for (const key of keys) expect(await services.blobs.get(key)).toBeUndefined();
    expect(await statusOf(user.upn)).toBe('no_photo');
    // Recorded once, in the commit that took the picture down.
    const removals = (await listAttempts(services.database.db, user.id)).filter((a) => a.outcome === 'removed');
    expect(removals).toMatchObject([{ trigger: 'onedrive_tile', etagAfter: null, error: null }]);
  });

  it('never takes the directory photo: a user with only a directory photo gets the placeholder', async () => {
    const user = await makeUser(services);
    await setDirectoryPhoto(services.database.db, user.id, await solidJpeg(RED, 96));
    const result = await services.sync.sync(user, 'sharepoint_tile');
    expect(result.outcome).toBe('no_photo');
    expect(await getSiteProfile(services.database.db, user.id)).toMatchObject({ placeholderState: 1 });
    expect(await getRendition(services.database.db, user.id, 'M')).toBeUndefined();
    expect(await counterValue(services.metrics.renders)).toBeGreaterThanOrEqual(0);
  });

  it('does nothing for a user without a mailbox and keeps their uploaded picture', async () => {
    const user = await makeUser(services, { hasMailbox: false });
    await uploadSitePicture(
      { db: services.database.db, blobs: services.blobs, lock: services.lock, sizes: services.config.renditionSizes },
      user,
      await solidJpeg(BLUE),
    );
    const result = await services.sync.sync(user, 'sharepoint_tile');
    expect(result.outcome).toBe('no_mailbox');
    expect(await getSiteProfile(services.database.db, user.id)).toMatchObject({
      placeholderState: 0,
      exchangeSyncState: 0,
      pictureSource: 'upload',
    });
    expect(closeTo(await meanColour((await renditionBytes(user.id, 'M'))!), BLUE)).toBe(true);
    expect(await statusOf(user.upn)).toBe('no_mailbox');
  });

  it('overwrites a direct site upload with the mail photo at the next sync, for a user with a mailbox', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg(RED));
    await services.sync.sync(user, 'admin');
    await uploadSitePicture(
      { db: services.database.db, blobs: services.blobs, lock: services.lock, sizes: services.config.renditionSizes },
      user,
      await solidJpeg(BLUE),
    );
    expect(closeTo(await meanColour((await renditionBytes(user.id, 'M'))!), BLUE)).toBe(true);
    expect(await statusOf(user.upn)).toBe('changed');

    expect((await services.sync.sync(user, 'photo_request')).outcome).toBe('synced');
    expect(closeTo(await meanColour((await renditionBytes(user.id, 'M'))!), RED)).toBe(true);
  });

  it('renders once for many simultaneous triggers, and records every one of them', async () => {
    const user = await makeUser(services);
    // Kept without the sites' renditions, so the master is read and rendered.
    const photo = await giveMailPhotoAlone(services, user, await solidJpeg(RED));
    const before = await counterValue(services.metrics.renders);
    const bytesBefore = await counterValue(services.metrics.photoBytesRead);

    const results = await Promise.all(Array.from({ length: 30 }, () => services.sync.sync(user, 'sharepoint_tile')));

    expect(await counterValue(services.metrics.renders)).toBe(before + 1);
    // The mail photo is read once for the syncs running at once (each read its own before: 30 reads);
    // the ones that waited for the lock found nothing to do. A sync whose first read of the inputs
    // was answered only after all the others had ended would read it again.
    const bytesRead = (await counterValue(services.metrics.photoBytesRead)) - bytesBefore;
    expect([photo.byteSize, 2 * photo.byteSize]).toContain(bytesRead);
    expect(results.filter((r) => r.outcome === 'synced')).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'unchanged')).toHaveLength(29);
    expect(attemptCount(await listAttempts(services.database.db, user.id))).toBe(30);
    expect((await getSiteProfile(services.database.db, user.id))?.syncedEtag).toBe(photo.etag);
  });

  it('renders at the sizes of the moment when they changed while the kept renditions were read', async () => {
    const user = await makeUser(services);
    const admin = await makeUser(services, { isAdmin: true });
    await giveMailPhoto(services, user, await solidJpeg(RED));
    const sizes = services.syncSettings().renditionSizes;
    const bytesBefore = await counterValue(services.metrics.photoBytesRead);
    let sync: ReturnType<typeof services.sync.sync> | undefined;
    try {
      await heldElsewhere(user.id, async () => {
        // The sync reads the renditions kept at 48,72,300 (under the lock, on PostgreSQL), and waits for it.
        sync = services.sync.sync(user, 'sharepoint_tile');
        await waitingForTheLock(bytesBefore);
        await services.settings.update({ renditionSizes: { S: 40, M: 64, L: 200 } }, admin);
      });
      expect((await sync)?.outcome).toBe('synced');
      expect((await getRendition(services.database.db, user.id, 'L'))?.side).toBe(200);
      expect((await getSiteProfile(services.database.db, user.id))?.renditionSpec).toBe('40,64,200');
    } finally {
      // Back to the sizes of the environment, which the other tests start from.
      await services.settings.update({ renditionSizes: sizes }, admin);
      await services.database.db.deleteFrom('admin_settings').where('name', '=', 'renditionSizes').execute();
      await services.settings.refresh();
    }
  });

  it('takes the renditions kept with the photo the inputs name once the lock is held, when it was replaced while the sync waited', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg(RED));
    const bytesBefore = await counterValue(services.metrics.photoBytesRead);
    let sync: ReturnType<typeof services.sync.sync> | undefined;
    let replaced: Awaited<ReturnType<typeof giveMailPhoto>> | undefined;
    await heldElsewhere(user.id, async () => {
      sync = services.sync.sync(user, 'sharepoint_tile');
      await waitingForTheLock(bytesBefore);
      replaced = await giveMailPhoto(services, user, await solidJpeg(BLUE));
    });
    expect(await sync).toMatchObject({ outcome: 'synced', etagAfter: replaced!.etag });
    expect(closeTo(await meanColour((await renditionBytes(user.id, 'M'))!), BLUE)).toBe(true);
  });

  it('renders the photo the inputs name once the lock is held, when it was replaced while the sync waited', async () => {
    const user = await makeUser(services);
    await giveMailPhotoAlone(services, user, await solidJpeg(RED));
    const bytesBefore = await counterValue(services.metrics.photoBytesRead);
    let sync: ReturnType<typeof services.sync.sync> | undefined;
    let replaced: Awaited<ReturnType<typeof giveMailPhoto>> | undefined;
    await heldElsewhere(user.id, async () => {
      // The sync reads its inputs (and on SQLite the red photo's bytes), then waits for the lock held here.
      sync = services.sync.sync(user, 'sharepoint_tile');
      await waitingForTheLock(bytesBefore);
      replaced = await giveMailPhoto(services, user, await solidJpeg(BLUE));
    });
    expect(await sync).toMatchObject({ outcome: 'synced', etagAfter: replaced!.etag });
    expect((await getSiteProfile(services.database.db, user.id))?.syncedEtag).toBe(replaced!.etag);
    expect(closeTo(await meanColour((await renditionBytes(user.id, 'M'))!), BLUE)).toBe(true);
  });

  it('gives users whose UPNs map to one file name their own names, even when synced at once', async () => {
    const tag = `${Date.now()}${process.pid}`;
    const users = await Promise.all(
      [`a.b.c${tag}@x.com`, `a_b.c${tag}@x.com`, `a.b_c${tag}@x.com`, `a_b_c${tag}@x.com`].map((upn) =>
        makeUser(services, { upn }),
      ),
    );
    for (const user of users) await giveMailPhoto(services, user, await solidJpeg(RED));
    const results = await Promise.all(users.map((user) => services.sync.sync(user, 'sharepoint_tile')));
    expect(results.map((r) => r.outcome)).toEqual(['synced', 'synced', 'synced', 'synced']);
    const stems = await services.database.db
      .selectFrom('site_profiles')
      .select('file_stem')
      .where(
        'user_id',
        'in',
        users.map((u) => u.id),
      )
      .execute();
    expect(new Set(stems.map((s) => s.file_stem)).size).toBe(4);
  });

  it('renders once when two instances on the same database are triggered together', async () => {
    const second = await openTestServices(store);
    try {
      const user = await makeUser(services);
      await giveMailPhoto(services, user, await solidJpeg(BLUE));
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? services : second).sync.sync(user, 'sharepoint_tile')),
      );
      expect(results.filter((r) => r.outcome === 'synced')).toHaveLength(1);
      expect(attemptCount(await listAttempts(services.database.db, user.id))).toBe(20);
    } finally {
      await second.close();
    }
  });

  it('records failures, spares photo views for the back-off, and retries at once on a new photo or a click', async () => {
    const user = await makeUser(services);
    // Without the sites' renditions made when it was set, the sync decodes the (damaged) master.
    const photo = await giveMailPhotoAlone(services, user, await solidJpeg(RED));
    await corruptBlob(services, photo.blobKey);

    const failed = await services.sync.sync(user, 'photo_request');
    expect(failed.outcome).toBe('failed');
    expect(failed.error).toMatch(/./);
    expect(await statusOf(user.upn)).toBe('failing');

    const stateNow = () =>
      services.database.db
        .selectFrom('sync_state')
        .selectAll()
        .where('user_id', '=', user.id)
        .executeTakeFirstOrThrow();
    const backoffMs = services.syncSettings().errorBackoffSeconds * 1000;
    const [first] = await listAttempts(services.database.db, user.id);
    const failure = {
      failing_since: first!.startedAt,
      retry_after: first!.startedAt + backoffMs,
      failed_etag: photo.etag,
      last_error: failed.error,
    };
    expect(await stateNow()).toMatchObject({ last_outcome: 'failed', ...failure });

    expect((await services.sync.sync(user, 'photo_request')).outcome).toBe('backing_off');
    // A skip leaves the failure as it was.
    expect(await stateNow()).toMatchObject({ last_outcome: 'backing_off', ...failure });
    expect((await services.sync.sync(user, 'sharepoint_tile')).outcome).toBe('failed');
    // Failing again keeps the time the failing began and moves the retry time.
    const [again] = await listAttempts(services.database.db, user.id);
    expect(await stateNow()).toMatchObject({
      last_outcome: 'failed',
      failing_since: first!.startedAt,
      retry_after: again!.startedAt + backoffMs,
    });

    await giveMailPhoto(services, user, await solidJpeg(BLUE));
    expect((await services.sync.sync(user, 'photo_request')).outcome).toBe('synced');
    expect(await statusOf(user.upn)).toBe('in_step');

    const history = await listAttempts(services.database.db, user.id);
    expect(history.map((h) => [h.trigger, h.outcome])).toEqual([
      ['photo_request', 'synced'],
      ['sharepoint_tile', 'failed'],
      ['photo_request', 'backing_off'],
      ['photo_request', 'failed'],
    ]);
    expect(history[3]).toMatchObject({ etagBefore: null, etagAfter: null, error: failed.error });
    expect(history[0]?.durationMs).toBeGreaterThan(0);
    const state = await services.database.db
      .selectFrom('sync_state')
      .selectAll()
      .where('user_id', '=', user.id)
      .executeTakeFirst();
    expect(state).toMatchObject({ failing_since: null, retry_after: null, last_outcome: 'synced' });
  });

  it('renders again when the configured sizes change, even though the photo did not', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg(BLUE));
    await services.sync.sync(user, 'admin');
    const resized = await openTestServices(store, { PHOTOSYNC_RENDITION_SIZES: '40,64,200' });
    try {
      const status = await listSyncStatus(resized.database.db, '', '40,64,200');
      expect(status.find((s) => s.upn === user.upn)?.state).toBe('changed');
      expect((await resized.sync.sync(user, 'photo_request')).outcome).toBe('synced');
      const large = await getRendition(resized.database.db, user.id, 'L');
      // Made at the sync: the renditions kept with the photo are at the sizes of when it was set.
      expect(large?.side).toBe(200);
      expect((await resized.sync.sync(user, 'photo_request')).outcome).toBe('unchanged');
    } finally {
      await resized.close();
    }
  });
});
