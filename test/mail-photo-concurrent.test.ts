import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, expect, it } from 'vitest';
import { deleteUser } from '../src/directory/revocation.js';
import { getMailPhoto, setMailPhoto } from '../src/mail/photo-store.js';
import type { Services } from '../src/services.js';
import { makeUser, solidJpeg } from './support/factories.js';
import { describeEachDialect, useTestServices } from './support/services.js';

// Two mail photos of one user stored at the same moment, the user's first among them: one commits
// after the other and replaces it, and the files of the one replaced go. Before, on PostgreSQL,
// the second of two first photos read no previous photo (there was no row to lock yet) and the
// first's master and renditions stayed in the store, named by no row.

describeEachDialect('two mail photos of one user at once', (dialect) => {
  const context = useTestServices(dialect);
  let services: Services;
  beforeAll(() => ({ services } = context));

  /** The user's files in the photo store, and the keys their rows name. */
  async function filesAndNames(userId: string) {
    const files: string[] = [];
    for await (const batch of services.blobs.listKeys()) files.push(...batch.filter((key) => key.includes(userId)));
    const { db } = services.database;
    const master = await db.selectFrom('mail_photos').select('blob_key').where('user_id', '=', userId).execute();
    const kept = await db
      .selectFrom('mail_photo_renditions')
      .select('blob_key')
      .where('user_id', '=', userId)
      .execute();
    const names = [...master, ...kept].flatMap((row) => (row.blob_key ? [row.blob_key] : []));
    return { files: files.sort(), names: names.sort() };
  }

  it('the later commit wins and no file is left that no row names, for a first photo too', async () => {
    const user = await makeUser(services);
    // The first photo's commit pauses (its rows written, not committed) until the test lets it go on.
    let writing!: () => void;
    const written = new Promise<void>((resolve) => (writing = resolve));
    let goOn!: () => void;
    const released = new Promise<void>((resolve) => (goOn = resolve));
    const first = setMailPhoto(services.mailStore, user, await solidJpeg([220, 40, 40], 200), async () => {
      writing();
      await released;
    });
    await written;
    const second = setMailPhoto(services.mailStore, user, await solidJpeg([40, 40, 220], 200));
    await sleep(300);
    goOn();
    const [, blue] = await Promise.all([first, second]);

    expect((await getMailPhoto(services.database.db, user.id))?.etag).toBe(blue.etag);
    const { files, names } = await filesAndNames(user.id);
    expect(names).toHaveLength(4);
    expect(files).toEqual(names);
  });

  it('a photo for a user removed meanwhile is refused as for nobody, and leaves no file', async () => {
    const user = await makeUser(services);
    await deleteUser(services.database.db, user);
    await expect(setMailPhoto(services.mailStore, user, await solidJpeg([40, 220, 40], 200))).rejects.toMatchObject({
      id: 'user_not_found',
      status: 404,
    });
    expect((await filesAndNames(user.id)).files).toEqual([]);
  });
});
