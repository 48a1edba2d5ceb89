import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession } from '../../src/directory/credentials.js';
import type { DirectoryUser } from '../../src/directory/users.js';
import { SESSION_COOKIE } from '../../src/http/auth.js';
import { isAppError } from '../../src/errors.js';
import { MAIL_MASTER_MAX_SIDE, MAIL_PHOTO_MAX_BYTES, getMailPhoto } from '../../src/mail/photo-store.js';
import type { Services } from '../../src/services.js';
import { getRendition, getSiteProfile } from '../../src/sites/profiles.js';
import { SITE_PICTURE_MAX_BYTES, uploadSitePicture } from '../../src/sites/upload.js';
import { runCommand } from '../support/cli.js';
import { giveMailPhoto, makeUser, solidJpeg, tokenFor } from '../support/factories.js';
import { FormClient } from '../support/form-client.js';
import {
  createTestStore,
  describeEachDialect,
  openTestServices,
  useTestApp,
  useTestServices,
} from '../support/services.js';
import {
  HOSTILE_CASES,
  animatedGif,
  greyPng,
  greyPngBomb,
  hostileBytes,
  storedBlobs,
  type HostileCase,
} from './hostile-images.js';
import { STACK_FRAME } from './identities.js';

/** The shared image corpus beside the checkout (PHOTOSYNC_CORPUS_DIR when it lives elsewhere). */
const CORPUS = path.resolve(process.env.PHOTOSYNC_CORPUS_DIR ?? '../shared/corpus');

/** The master is what everyone sees: upright 8-bit sRGB JPEG, square, with nothing else in it. */
async function expectNormalized(jpeg: Buffer, maxSide: number): Promise<void> {
  const meta = await sharp(jpeg).metadata();
  expect(meta).toMatchObject({ format: 'jpeg', space: 'srgb', channels: 3, depth: 'uchar' });
  expect(meta.width).toBe(meta.height);
  expect(meta.width).toBeLessThanOrEqual(maxSide);
  expect(meta.exif).toBeUndefined();
  expect(meta.icc).toBeUndefined();
  expect(meta.xmp).toBeUndefined();
  expect(meta.orientation ?? 1).toBe(1);
  const text = jpeg.toString('latin1');
  for (const leak of ['PK\u0003\u0004', '<script', 'GPS', 'Spy Camera', 'Exif']) expect(text).not.toContain(leak);
}

interface UploadPath {
  name: string;
  maxBytes: number;
  maxSide: number;
  upload(services: Services, user: DirectoryUser, bytes: Buffer): Promise<void>;
  /** What this path stored for the user, for "nothing changed" and "normalized" checks. */
  stored(services: Services, user: DirectoryUser): Promise<{ marker: string | undefined; jpeg: Buffer | undefined }>;
}

const UPLOAD_PATHS: UploadPath[] = [
  {
    name: 'mail photo (photosync photo set)',
    maxBytes: MAIL_PHOTO_MAX_BYTES,
    maxSide: MAIL_MASTER_MAX_SIDE,
    upload: async (services, user, bytes) => {
      await giveMailPhoto(services, user, bytes);
    },
    stored: async (services, user) => {
      const photo = await getMailPhoto(services.database.db, user.id);
      return { marker: photo?.etag, jpeg: photo && (await services.blobs.get(photo.blobKey)) };
    },
  },
  {
    name: 'site picture (photosync site-photo set)',
    maxBytes: SITE_PICTURE_MAX_BYTES,
    maxSide: 300,
    upload: (services, user, bytes) =>
      uploadSitePicture(
        { db: services.database.db, blobs: services.blobs, lock: services.lock, sizes: services.config.renditionSizes },
        user,
        bytes,
      ),
    stored: async (services, user) => {
      const profile = await getSiteProfile(services.database.db, user.id);
      const rendition = await getRendition(services.database.db, user.id, 'L');
      return {
        marker: `${profile?.pictureTimestamp}/${rendition?.etag}`,
        jpeg: rendition && (await services.blobs.get(rendition.blobKey)),
      };
    },
  },
];

describeEachDialect('hostile and odd images', (dialect) => {
  const context = useTestServices(dialect);
  let services: Services;
  let user: DirectoryUser;
  beforeAll(async () => {
    services = context.services;
    user = await makeUser(services);
    // A photo and a picture already in place, which no refused upload may disturb.
    await giveMailPhoto(services, user, await solidJpeg([20, 120, 20], 100));
    await UPLOAD_PATHS[1]!.upload(services, user, await solidJpeg([20, 20, 120], 100));
  });

  const check = async (uploadPath: UploadPath, name: string, bytes: Buffer, expected: HostileCase['expect']) => {
    const before = await uploadPath.stored(services, user);
    const blobsBefore = await storedBlobs(services);
    const outcome = await uploadPath.upload(services, user, bytes).then(
      () => undefined,
      (error: unknown) => error,
    );
    if (expected === 'normalized') {
      expect(outcome, `${name} is accepted`).toBeUndefined();
      const after = await uploadPath.stored(services, user);
      await expectNormalized(after.jpeg!, uploadPath.maxSide);
      return after.jpeg!;
    }
    expect(isAppError(outcome), `${name} is refused with an AppError, not ${String(outcome)}`).toBe(true);
    if (!isAppError(outcome)) return undefined;
    expect(outcome.status, name).toBe(expected.refused);
    // A sentence for a person: no decoder internals, no stack.
    expect(outcome.message).toMatch(/^The (file|image) .+\.$/);
    expect(outcome.message).not.toMatch(/vips|libpng|jpeg_|heap|\n/i);
    expect(await uploadPath.stored(services, user)).toEqual(before);
    expect(await storedBlobs(services)).toEqual(blobsBefore);
    return undefined;
  };

  for (const uploadPath of UPLOAD_PATHS) {
    describe(uploadPath.name, () => {
      for (const hostile of HOSTILE_CASES) {
        it(`${hostile.name}: ${hostile.expect === 'normalized' ? 'normalized' : `refused with ${hostile.expect.refused}`}`, async () => {
          await check(uploadPath, hostile.name, await hostileBytes(hostile, uploadPath.maxBytes), hostile.expect);
        });
      }
    });
  }

  it('keeps a 5,000-frame GIF to its first frame and turns an EXIF-rotated photo upright', async () => {
    const gif = animatedGif(5000);
    expect((await sharp(gif, { pages: -1 }).metadata()).pages).toBe(5000);
    const first = await check(UPLOAD_PATHS[0]!, 'gif', gif, 'normalized');
    const [r, g, b] = (await sharp(first!).stats()).channels.map((c) => c.mean);
    expect(r).toBeGreaterThan(200);
    expect(Math.max(g!, b!)).toBeLessThan(60);

    const rotated = HOSTILE_CASES.find((c) => c.name.startsWith('JPEG with GPS'))!;
    const input = await sharp(await hostileBytes(rotated, 1)).metadata();
    expect(input.orientation).toBe(6);
    expect(input.exif?.toString('latin1')).toContain('Spy Camera');
    const upright = await check(UPLOAD_PATHS[0]!, 'rotated', await hostileBytes(rotated, 1), 'normalized');
    const { data, info } = await sharp(upright!).raw().toBuffer({ resolveWithObject: true });
    const pixel = (x: number, y: number) => [...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)];
    // Red went from top left to top right, as orientation 6 says; top left is white now.
    const [topRightR, topRightG] = pixel(info.width - 10, 10);
    expect(topRightR).toBeGreaterThan(180);
    expect(topRightG).toBeLessThan(60);
    expect(pixel(10, 10)[1]).toBeGreaterThan(200);
  });

  it('accepts and normalizes, or refuses with a 4xx, every file of the corpus', async () => {
    const files: string[] = [];
    for (const folder of ['exif-orientation', 'pngsuite']) {
      for (const name of await fs.readdir(path.join(CORPUS, folder))) {
        if (/\.(jpe?g|png)$/i.test(name)) files.push(path.join(CORPUS, folder, name));
      }
    }
    expect(files.length).toBeGreaterThan(150);
    const outcomes = { normalized: 0, refused: 0 };
    for (const file of files) {
      const bytes = await fs.readFile(file);
      const before = await getMailPhoto(services.database.db, user.id);
      try {
        await giveMailPhoto(services, user, bytes);
        const photo = await getMailPhoto(services.database.db, user.id);
        await expectNormalized((await services.blobs.get(photo!.blobKey))!, MAIL_MASTER_MAX_SIDE);
        outcomes.normalized++;
      } catch (error) {
        expect(isAppError(error), `${file}: ${String(error)}`).toBe(true);
        if (isAppError(error)) expect(error.status).toBeGreaterThanOrEqual(400);
        expect(await getMailPhoto(services.database.db, user.id)).toEqual(before);
        // PngSuite's deliberately broken files all start with x.
        expect(path.basename(file), `${file} was refused: ${(error as Error).message}`).toMatch(/^x/);
        outcomes.refused++;
      }
    }
    expect(outcomes.refused).toBeGreaterThan(10);
    expect(outcomes.normalized).toBeGreaterThan(140);
  });
});

// ---- The command line and a real server process --------------------------------------------

const UPLOAD_SERVER = path.resolve('test/support/upload-server.js');

function cleanEnv(store: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  return { ...env, ...store };
}

// The command line (in-process, as the bin runs it) reads the file and calls the same store; one
// database is enough here.
describe('hostile images through the command line [sqlite]', () => {
  const context = useTestServices('sqlite');

  it('refuses an SVG named .jpg and a 60,000 × 60,000 PNG with a message, exit 1 and no change', async () => {
    const { services, store } = context;
    const user = await makeUser(services);
    const photo = await giveMailPhoto(services, user, await solidJpeg([90, 90, 200], 80));
    const svg = path.join(store.dataDir, 'portrait.jpg');
    await fs.writeFile(svg, '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
    const bomb = path.join(store.dataDir, 'bomb.png');
    await fs.writeFile(bomb, greyPng(60_000, 60_000, 4));
    for (const [file, message] of [
      [svg, /an SVG drawing, which cannot be used/],
      [bomb, /60000 × 60000 pixels, but photos can have at most 50 megapixels/],
    ] as const) {
      const result = await runCommand(['photo', 'set', user.upn, file], store.env);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(STACK_FRAME);
    }
    expect(await getMailPhoto(services.database.db, user.id)).toEqual(photo);
  });
});

/** Peak resident memory of a process so far, in MB (Linux). */
async function peakRssMb(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
  return kb / 1024;
}

describe('a server process taking decompression bombs', () => {
  let store: Awaited<ReturnType<typeof createTestStore>>;
  let server: ChildProcessWithoutNullStreams;
  let lines: AsyncIterator<string>;
  beforeAll(async () => {
    store = await createTestStore('sqlite');
  });
  afterAll(async () => {
    server?.kill('SIGKILL');
    await store?.drop();
  });

  // 1.5 GB would be a server in trouble; normal work stays far below it, and a 400-megapixel
  // decode (what the pixel limit prevents) would need more than that for its pixels alone.
  const MEMORY_BOUND_MB = 1024;

  it('keeps its memory bounded and keeps serving others while bombs are uploaded', { timeout: 90_000 }, async () => {
    const services = await openTestServices(store);
    const [target, colleague, viewer] = [await makeUser(services), await makeUser(services), await makeUser(services)];
    await giveMailPhoto(services, colleague, await solidJpeg([200, 200, 20], 120));
    await services.sync.sync(colleague, 'admin');
    const token = await tokenFor(services, viewer);
    await services.close();

    const files: Array<[string, Buffer, boolean]> = [
      ['claims-60000.png', greyPng(60_000, 60_000, 4), false],
      ['bomb-1gb.png', greyPngBomb(32_768, 32_768), false],
      // Just under the 50-megapixel limit: accepted, so it really is decoded.
      ['largest-allowed.png', greyPng(7000, 7000), true],
      ['frames-5000.gif', animatedGif(5000), true],
    ];
    for (const [name, bytes] of files) await fs.writeFile(path.join(store.dataDir, name), bytes);

    server = spawn(process.execPath, [UPLOAD_SERVER], {
      env: { ...cleanEnv(store.env), PHOTOSYNC_LOG_LEVEL: 'silent' },
    });
    lines = readline.createInterface({ input: server.stdout })[Symbol.asyncIterator]();
    const next = async () => JSON.parse(String((await lines.next()).value)) as Record<string, unknown>;
    const { port } = (await next()) as { port: number };
    const base = `http://127.0.0.1:${port}`;
    const idleMb = await peakRssMb(server.pid!);

    let uploading = true;
    const statuses: number[] = [];
    const others = Array.from({ length: 3 }, async () => {
      while (uploading) {
        for (const url of ['/healthz', `/_layouts/15/userphoto.aspx?size=M&accountname=${colleague.upn}`]) {
          const response = await fetch(base + url, { headers: { authorization: `Bearer ${token}` } });
          await response.arrayBuffer();
          statuses.push(response.status);
        }
      }
    });
    const results: Array<Record<string, unknown>> = [];
    for (const [name] of files) {
      server.stdin.write(`${target.upn} ${path.join(store.dataDir, name)}\n`);
      results.push(await next());
    }
    uploading = false;
    await Promise.all(others);

    expect(results.map((r) => r.ok)).toEqual(files.map(([, , accepted]) => accepted));
    for (const refused of results.filter((r) => !r.ok)) expect(refused).toMatchObject({ status: 400 });
    expect(statuses.length).toBeGreaterThan(0);
    expect(new Set(statuses)).toEqual(new Set([200]));
    const peakMb = await peakRssMb(server.pid!);
    expect(peakMb, `peak ${Math.round(peakMb)} MB, idle ${Math.round(idleMb)} MB`).toBeLessThan(MEMORY_BOUND_MB);
  });
});

describeEachDialect('hostile images through the photo page (POST /profile-photo)', (dialect) => {
  const context = useTestApp(dialect);

  it('refuses each with its 4xx and the page again, or saves it normalized', async () => {
    const { app, services } = context;
    const user = await makeUser(services, { password: undefined });
    await giveMailPhoto(services, user, await solidJpeg([20, 120, 20], 100));
    const browser = new FormClient(app);
    browser.cookies.set(SESSION_COOKIE, await createSession(services.database.db, user.id, 60 * 60 * 1000));
    const token = await browser.csrfToken('/profile-photo');

    for (const hostile of HOSTILE_CASES) {
      const bytes = await hostileBytes(hostile, MAIL_PHOTO_MAX_BYTES);
      const before = await getMailPhoto(services.database.db, user.id);
      const blobsBefore = await storedBlobs(services);
      const response = await browser.upload('/profile-photo', token, bytes);
      expect(response.body, hostile.name).not.toMatch(STACK_FRAME);
      if (hostile.expect === 'normalized') {
        expect(response.statusCode, hostile.name).toBe(303);
        const photo = await getMailPhoto(services.database.db, user.id);
        await expectNormalized((await services.blobs.get(photo!.blobKey))!, MAIL_MASTER_MAX_SIDE);
      } else {
        expect(response.statusCode, hostile.name).toBe(hostile.expect.refused);
        expect(response.headers['content-type'], hostile.name).toMatch(/text\/html/);
        expect(await getMailPhoto(services.database.db, user.id), hostile.name).toEqual(before);
        expect(await storedBlobs(services), hostile.name).toEqual(blobsBefore);
      }
    }
  });
});
