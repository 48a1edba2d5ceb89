import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, expect, it } from 'vitest';
import { createSession, createToken, endSession, userForSession, userForToken } from '../src/directory/credentials.js';
import { getDirectoryPhoto, setDirectoryPhoto } from '../src/directory/photo.js';
import { authenticate, createUser, findUserByUpn } from '../src/directory/users.js';
import { getMailPhoto, readMailMaster, removeMailPhoto, setMailPhoto } from '../src/mail/photo-store.js';
import type { Services } from '../src/services.js';
import { availableSides, createMailPhotoSizes } from '../src/mail/photo-sizes.js';
import { counterValue, giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import { describeEachDialect, useTestServices, type TestStore } from './support/services.js';

describeEachDialect('directory and mail photo store', (dialect) => {
  const context = useTestServices(dialect);
  let services: Services;
  let store: TestStore;
  beforeAll(() => ({ services, store } = context));

  const mailDeps = () => ({ db: services.database.db, dialect: services.database.dialect, blobs: services.blobs });

  it('creates users with normalised UPNs and refuses duplicates and bad input with clear errors', async () => {
    const db = services.database.db;
    const user = await createUser(db, {
      upn: 'Mari.Maasikas@Contoso.com',
      displayName: ' Mari Maasikas ',
      password: 'long enough',
    });
    expect(user).toMatchObject({
      upn: 'mari.maasikas@contoso.com',
      displayName: 'Mari Maasikas',
      hasMailbox: true,
      isAdmin: false,
      enabled: true,
    });
    await expect(createUser(db, { upn: 'MARI.maasikas@contoso.com', displayName: 'X' })).rejects.toMatchObject({
      status: 409,
    });
    await expect(createUser(db, { upn: 'not a upn', displayName: 'X' })).rejects.toMatchObject({ status: 400 });
    for (const displayName of ['Two\nlines', 'Tab\there', 'Evil\u202Egnp.exe', 'Line\u2028separator']) {
      await expect(createUser(db, { upn: 'names@contoso.com', displayName }), displayName).rejects.toMatchObject({
        status: 400,
      });
    }
    await expect(
      createUser(db, { upn: 'short@contoso.com', displayName: 'X', password: 'short' }),
    ).rejects.toMatchObject({
      status: 400,
      message: expect.stringMatching(/at least 8/),
    });
    expect(await findUserByUpn(db, 'short@contoso.com')).toBeUndefined();
  });

  it('checks passwords with argon2id and never says which part was wrong', async () => {
    const db = services.database.db;
    const user = await makeUser(services, { password: 'the right one' });
    const row = await db
      .selectFrom('directory_users')
      .select('password_hash')
      .where('id', '=', user.id)
      .executeTakeFirst();
    expect(row?.password_hash).toMatch(/^\$argon2id\$/);
    expect((await authenticate(db, user.upn.toUpperCase(), 'the right one'))?.id).toBe(user.id);
    expect(await authenticate(db, user.upn, 'the wrong one')).toBeUndefined();
    expect(await authenticate(db, 'nobody@contoso.com', 'the right one')).toBeUndefined();
  });

  it('keeps only hashes of tokens and sessions, and honours expiry and sign-out', async () => {
    const db = services.database.db;
    const user = await makeUser(services);
    const token = await createToken(db, user.id, 'test');
    expect((await userForToken(db, token))?.id).toBe(user.id);
    const stored = await db
      .selectFrom('directory_tokens')
      .select('token_hash')
      .where('user_id', '=', user.id)
      .execute();
    expect(stored.map((s) => s.token_hash)).not.toContain(token);
    const expired = await createToken(db, user.id, 'test', -1);
    expect(await userForToken(db, expired)).toBeUndefined();

    const session = await createSession(db, user.id, 60_000);
    expect((await userForSession(db, session))?.id).toBe(user.id);
    await endSession(db, session);
    expect(await userForSession(db, session)).toBeUndefined();
  });

  it('stores the mail photo as an upright square JPEG master of at most 648 px with a content ETag', async () => {
    const user = await makeUser(services);
    const camera = await sharp({ create: { width: 1600, height: 1000, channels: 3, background: '#336699' } })
      .withExif({ IFD0: { Make: 'Test' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '59/1 26/1 0/1' } })
      .jpeg()
      .toBuffer();
    const photo = await setMailPhoto(mailDeps(), user, camera);
    expect(photo.side).toBe(648);
    expect(photo.etag).toMatch(/^[0-9A-F]{16}$/);
    const master = await readMailMaster(services.blobs, photo);
    const meta = await sharp(master).metadata();
    expect([meta.format, meta.width, meta.height, meta.exif]).toEqual(['jpeg', 648, 648, undefined]);
    expect(await getMailPhoto(services.database.db, user.id)).toEqual(photo);

    const same = await setMailPhoto(mailDeps(), user, camera);
    expect(same).toEqual(photo);

    // The same picture again repairs a lost master file instead of keeping a row without bytes.
    await services.blobs.delete([photo.blobKey]);
    const repaired = await setMailPhoto(mailDeps(), user, camera);
    expect(repaired.etag).toBe(photo.etag);
    expect(await readMailMaster(services.blobs, repaired)).toEqual(master);
  });

  it('keeps a small photo small instead of upscaling it', async () => {
    const user = await makeUser(services);
    const photo = await giveMailPhoto(services, user, await solidJpeg([10, 20, 30], 120, 90));
    expect(photo.side).toBe(90);
  });

  it('refuses a corrupt upload and changes nothing', async () => {
    const user = await makeUser(services);
    const good = await giveMailPhoto(services, user, await solidJpeg([200, 0, 0]));
    const corrupt = await fs.readFile(path.resolve('../shared/corpus/pngsuite/xcsn0g01.png'));
    await expect(setMailPhoto(mailDeps(), user, corrupt)).rejects.toMatchObject({ status: 400 });
    await expect(
      setMailPhoto(mailDeps(), user, Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')),
    ).rejects.toMatchObject({
      status: 415,
    });
    await expect(setMailPhoto(mailDeps(), user, Buffer.alloc(4 * 1024 * 1024 + 1))).rejects.toMatchObject({
      status: 413,
    });
    expect(await getMailPhoto(services.database.db, user.id)).toEqual(good);
  });

  it('refuses every corrupt PngSuite file with a 4xx and stores nothing', async () => {
    const user = await makeUser(services);
    const good = await giveMailPhoto(services, user, await solidJpeg([0, 90, 0]));
    const corpus = path.resolve('../shared/corpus/pngsuite');
    const corrupt = (await fs.readdir(corpus)).filter((name) => name.startsWith('x') && name.endsWith('.png'));
    expect(corrupt.length).toBeGreaterThanOrEqual(14);
    const blobsBefore = await countBlobs();
    for (const name of corrupt) {
      const error = await setMailPhoto(mailDeps(), user, await fs.readFile(path.join(corpus, name))).catch(
        (e: unknown) => e,
      );
      expect(error, name).toMatchObject({ status: expect.any(Number), message: expect.stringMatching(/\w/) });
      expect((error as { status: number }).status, name).toBeGreaterThanOrEqual(400);
      expect((error as { status: number }).status, name).toBeLessThan(500);
    }
    expect(await getMailPhoto(services.database.db, user.id)).toEqual(good);
    expect(await countBlobs()).toBe(blobsBefore);
  });

  async function countBlobs(): Promise<number> {
    if (services.blobs.kind === 'postgres') {
      const rows = await services.database.db.selectFrom('storage_blobs').select('key').execute();
      return rows.length;
    }
    const files = await fs.readdir(path.join(store.dataDir, 'photos'), { recursive: true, withFileTypes: true });
    return files.filter((f) => f.isFile()).length;
  }

  it('replaces and removes the photo, deleting the old bytes', async () => {
    const user = await makeUser(services);
    const first = await giveMailPhoto(services, user, await solidJpeg([200, 0, 0]));
    const second = await giveMailPhoto(services, user, await solidJpeg([0, 200, 0]));
    expect(second.etag).not.toBe(first.etag);
    expect(await services.blobs.get(first.blobKey)).toBeUndefined();

    expect(await removeMailPhoto(mailDeps(), user)).toBe(true);
    expect(await getMailPhoto(services.database.db, user.id)).toBeUndefined();
    expect(await services.blobs.get(second.blobKey)).toBeUndefined();
    expect(await removeMailPhoto(mailDeps(), user)).toBe(false);
  });

  it('has no mail photo for a user without a mailbox', async () => {
    const user = await makeUser(services, { hasMailbox: false });
    await expect(giveMailPhoto(services, user, await solidJpeg([1, 2, 3]))).rejects.toMatchObject({
      status: 404,
      id: 'mailbox_not_found',
    });
  });

  it('keeps the directory photo within 100 KB and apart from the mail photo', async () => {
    const user = await makeUser(services);
    await setDirectoryPhoto(services.database.db, user.id, await solidJpeg([0, 0, 200], 200));
    const stored = await getDirectoryPhoto(services.database.db, user.id);
    expect((await sharp(stored).metadata()).width).toBe(96);
    expect(await getMailPhoto(services.database.db, user.id)).toBeUndefined();
    await expect(setDirectoryPhoto(services.database.db, user.id, Buffer.alloc(100 * 1024 + 1))).rejects.toMatchObject({
      status: 413,
    });
  });
});

describeEachDialect('mail photo sizes', (dialect) => {
  const context = useTestServices(dialect);
  let services: Services;
  beforeAll(() => ({ services } = context));

  it('offers the Graph sizes up to the master, derived once and then cached', async () => {
    const sizes = createMailPhotoSizes(services.blobs);
    const user = await makeUser(services);
    const large = await giveMailPhoto(services, user, await solidJpeg([90, 10, 200], 700));
    expect(availableSides(large)).toEqual([48, 64, 96, 120, 240, 360, 432, 504, 648]);
    const s96 = await sizes.read(large, 96);
    expect((await sharp(s96).metadata()).width).toBe(96);
    const before = await counterValue(services.metrics.photoBytesRead);
    expect(await sizes.read(large, 96)).toBe(s96);
    expect(await counterValue(services.metrics.photoBytesRead)).toBe(before);
    expect(await sizes.read(large, 100)).toBeUndefined();

    const small = await giveMailPhoto(services, await makeUser(services), await solidJpeg([1, 2, 3], 130));
    expect(availableSides(small)).toEqual([48, 64, 96, 120]);
    expect(await sizes.read(small, 240)).toBeUndefined();
  });
});
