import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { createToken } from '../../src/directory/credentials.js';
import { hashPassword } from '../../src/directory/passwords.js';
import { createUser, type DirectoryUser, type NewUser } from '../../src/directory/users.js';
import { setMailPhoto } from '../../src/mail/photo-store.js';
import type { Services } from '../../src/services.js';
import { uploadSitePicture } from '../../src/sites/upload.js';

let counter = 0;

export const PASSWORD = 'correct horse battery';
/**
 * One argon2id hash of the tests' password per test process, given to every user made with it: a
 * real hash that each sign-in verifies, without hashing again (tens of milliseconds) for every user.
 */
let passwordHash: Promise<string> | undefined;

export async function makeUser(services: Services, overrides: Partial<NewUser> = {}): Promise<DirectoryUser> {
  counter++;
  const input = {
    upn: `user${counter}.${process.pid}@contoso.com`,
    displayName: `Test User ${counter}`,
    password: PASSWORD,
    ...overrides,
  };
  if (input.password !== PASSWORD) return createUser(services.database.db, input);
  const user = await createUser(services.database.db, { ...input, password: undefined });
  passwordHash ??= hashPassword(PASSWORD);
  await services.database.db
    .updateTable('directory_users')
    .set({ password_hash: await passwordHash })
    .where('id', '=', user.id)
    .execute();
  return user;
}

/** A photo of one flat colour, so any rendition of it can be checked by its pixels. */
export function solidJpeg(rgb: [number, number, number], width = 800, height = width): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .jpeg({ quality: 95 })
    .toBuffer();
}

/** The average colour of an image, to compare renditions with what was uploaded. */
export async function meanColour(image: Buffer): Promise<[number, number, number]> {
  const { channels } = await sharp(image).stats();
  return [channels[0]?.mean ?? 0, channels[1]?.mean ?? 0, channels[2]?.mean ?? 0].map(Math.round) as [
    number,
    number,
    number,
  ];
}

export function closeTo(actual: readonly number[], expected: readonly number[], tolerance = 6): boolean {
  return actual.every((value, i) => Math.abs(value - (expected[i] ?? 0)) <= tolerance);
}

/** Sets the mail photo as every route does: the sites' renditions are made with it. */
export async function giveMailPhoto(services: Services, user: DirectoryUser, jpeg: Buffer) {
  return setMailPhoto(services.mailStore, user, jpeg);
}

/**
 * Sets the mail photo without the sites' renditions, as one set before they were kept (or at
 * sizes no longer used): the sync renders the master itself.
 */
export async function giveMailPhotoAlone(services: Services, user: DirectoryUser, jpeg: Buffer) {
  return setMailPhoto(
    { db: services.database.db, dialect: services.database.dialect, blobs: services.blobs },
    user,
    jpeg,
  );
}

export async function tokenFor(services: Services, user: DirectoryUser): Promise<string> {
  return createToken(services.database.db, user.id, 'test');
}

export async function counterValue(counter: { get(): Promise<{ values: Array<{ value: number }> }> }): Promise<number> {
  const { values } = await counter.get();
  return values.reduce((sum, v) => sum + v.value, 0);
}

/** Overwrites a stored photo's bytes with something that is not an image (either blob store). */
export async function corruptBlob(services: Services, key: string): Promise<void> {
  const garbage = Buffer.from('this is not a JPEG any more');
  if (services.blobs.kind === 'files') {
    await fs.writeFile(path.join(services.config.dataDir, 'photos', key), garbage);
  } else {
    await services.database.db.updateTable('storage_blobs').set({ bytes: garbage }).where('key', '=', key).execute();
  }
}

/** A picture uploaded straight into the sites for `user` (as `photosync site-photo set` does), through `services`. */
export function giveSitePicture(services: Services, user: DirectoryUser, jpeg: Buffer) {
  const deps = {
    db: services.database.db,
    blobs: services.blobs,
    lock: services.lock,
    sizes: services.syncSettings().renditionSizes,
  };
  return uploadSitePicture(deps, user, jpeg);
}
