import fs from 'node:fs/promises';
import path from 'node:path';
import { constants, crc32, deflateRawSync, deflateSync } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import { getDirectoryPhoto } from '../../src/directory/photo.js';
import type { DirectoryUser } from '../../src/directory/users.js';
import { getMailPhoto } from '../../src/mail/photo-store.js';
import { manyScansJpeg, zeroPng } from '../../src/media/test-helpers.js';
import type { Services } from '../../src/services.js';
import { getRendition, getSiteProfile } from '../../src/sites/profiles.js';
import { uploadSitePicture } from '../../src/sites/upload.js';
import { giveMailPhoto, makeUser, solidJpeg } from '../support/factories.js';

// Hostile and odd uploads, made on the spot so that no attack file lives in the repository.

export interface HostileCase {
  name: string;
  /** The upload, given the byte limit of the path it goes to. */
  bytes: (maxBytes: number) => Promise<Buffer>;
  /** 'refused' with this HTTP status, or 'normalized' into an sRGB JPEG without metadata. */
  expect: { refused: 400 | 413 | 415 } | 'normalized';
}

const solid = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: { r: 180, g: 120, b: 60 } } });

/** A PNG chunk with its length and CRC. */
function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A valid grey PNG of any size whose pixel data compresses ~1000:1: the classic decompression
 * bomb. 60,000 × 60,000 is 3.6 gigapixels in about 3.5 MB... so we only claim it in the header
 * and send a few rows; the decoder must never get as far as reading them.
 */
export function greyPng(width: number, height: number, rows = height): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const raw = Buffer.alloc((width + 1) * rows); // filter byte 0 + zero pixels, row after row
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw, { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A real small JPEG whose frame header (SOF) claims another size. */
export async function jpegClaiming(width: number, height: number): Promise<Buffer> {
  const jpeg = Buffer.from(await solid(64, 64).jpeg({ progressive: false }).toBuffer());
  for (let i = 2; i < jpeg.length - 9; i++) {
    if (jpeg[i] === 0xff && (jpeg[i + 1] === 0xc0 || jpeg[i + 1] === 0xc2)) {
      jpeg.writeUInt16BE(height, i + 5);
      jpeg.writeUInt16BE(width, i + 7);
      return jpeg;
    }
  }
  throw new Error('no SOF marker');
}

/**
 * An animated GIF of 1 × 1 frames cycling through red, green, blue and white, written by hand:
 * encoders fold identical frames and take minutes for thousands of real ones.
 */
export function animatedGif(frames: number): Buffer {
  const header = Buffer.from([
    ...Buffer.from('GIF89a', 'latin1'),
    1,
    0,
    1,
    0, // 1 × 1 screen
    0x81,
    0,
    0, // a global table of 4 colours
    255,
    0,
    0,
    0,
    255,
    0,
    0,
    0,
    255,
    255,
    255,
    255,
    0x21,
    0xff,
    11,
    ...Buffer.from('NETSCAPE2.0', 'latin1'),
    3,
    1,
    0,
    0,
    0, // loop for ever
  ]);
  const frame = (colour: number) =>
    Buffer.from([
      0x21,
      0xf9,
      4,
      0,
      2,
      0,
      0,
      0, // 20 ms
      0x2c,
      0,
      0,
      0,
      0,
      1,
      0,
      1,
      0,
      0, // 1 × 1 at 0,0
      // LZW, minimum code size 2, 3-bit codes: clear (4), the colour, end (5).
      2,
      2,
      4 | (colour << 3) | ((5 & 3) << 6),
      5 >> 2,
      0,
    ]);
  const body = Array.from({ length: frames }, (_, i) => frame(i % 4));
  return Buffer.concat([header, ...body, Buffer.from([0x3b])]);
}

/**
 * A real grey PNG of width × height whose pixel data (width + 1) × height bytes of zeros deflate
 * about 1000:1: the classic decompression bomb, made in milliseconds. One compressed block of
 * rows is repeated; each ends with a full flush, so the copies form one valid zlib stream.
 */
export function greyPngBomb(width: number, height: number): Buffer {
  const rowsPerBlock = 256;
  if (height % rowsPerBlock !== 0) throw new RangeError(`height must be a multiple of ${rowsPerBlock}`);
  const blockBytes = (width + 1) * rowsPerBlock;
  const block = deflateRawSync(Buffer.alloc(blockBytes), { level: 9, finishFlush: constants.Z_FULL_FLUSH });
  const total = (blockBytes * height) / rowsPerBlock;
  const adler = Buffer.alloc(4);
  adler.writeUInt32BE((((total % 65521) << 16) | 1) >>> 0);
  const zlibStream = Buffer.concat([
    Buffer.from([0x78, 0xda]),
    ...Array.from({ length: height / rowsPerBlock }, () => block),
    Buffer.from([0x03, 0x00]), // final empty block
    adler,
  ]);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', zlibStream),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** 160 × 160, white with a red top-left quadrant: after EXIF orientation 6 the red is top right. */
export function quadrantJpeg(): Sharp {
  const red = { create: { width: 80, height: 80, channels: 3 as const, background: { r: 220, g: 0, b: 0 } } };
  return sharp({ create: { width: 160, height: 160, channels: 3, background: { r: 255, g: 255, b: 255 } } }).composite([
    { input: red, left: 0, top: 0 },
  ]);
}

const half = (bytes: Buffer) => bytes.subarray(0, Math.floor(bytes.length / 2));

/** Photos no portrait has: refused from the header, before any decode, on every way in. */
export const SHAPE_CASES: HostileCase[] = [
  {
    // Half the pixel limit, but ~17 s of decoding row by row: what starved everyone before.
    name: 'PNG of 1 × 25,000,000 grey pixels (48 KB)',
    bytes: async () => zeroPng(1, 25_000_000),
    expect: { refused: 400 },
  },
  { name: 'PNG of 9,000 × 1,000 (wider than 1:8)', bytes: async () => zeroPng(9_000, 1_000), expect: { refused: 400 } },
];

export const HOSTILE_CASES: HostileCase[] = [
  { name: 'zero bytes', bytes: async () => Buffer.alloc(0), expect: { refused: 400 } },
  {
    // Legal, and 20 s of one core at 16,384 × 2,048 past any deadline: every scan is read first.
    name: 'progressive JPEG of 2,647 scans (each AC coefficient refined bit by bit)',
    bytes: async () => manyScansJpeg(32, 32),
    expect: { refused: 400 },
  },
  {
    name: 'one byte over the limit (4 MB + 1 byte for the mail photo)',
    bytes: async (maxBytes) => {
      const jpeg = await solid(64, 64).jpeg().toBuffer();
      return Buffer.concat([jpeg, Buffer.alloc(maxBytes + 1 - jpeg.length)]);
    },
    expect: { refused: 413 },
  },
  { name: 'PNG claiming 60,000 × 60,000', bytes: async () => greyPng(60_000, 60_000, 4), expect: { refused: 400 } },
  { name: 'JPEG claiming 60,000 × 60,000', bytes: () => jpegClaiming(60_000, 60_000), expect: { refused: 400 } },
  {
    // 32,768 × 32,768 grey: 1 GB of pixels in about 1 MB.
    name: 'PNG decompression bomb (1 GB of pixels in 1 MB)',
    bytes: async () => greyPngBomb(32_768, 32_768),
    expect: { refused: 400 },
  },
  {
    name: 'truncated JPEG',
    bytes: async () => half(await solid(300, 300).jpeg().toBuffer()),
    expect: { refused: 400 },
  },
  { name: 'truncated PNG', bytes: async () => half(await solid(300, 300).png().toBuffer()), expect: { refused: 400 } },
  {
    name: 'truncated WebP',
    bytes: async () => half(await solid(300, 300).webp({ lossless: true }).toBuffer()),
    expect: { refused: 400 },
  },
  {
    name: 'SVG with a script, named .jpg',
    bytes: async () =>
      Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(document.cookie)</script>' +
          '<image href="file:///etc/passwd"/></svg>',
      ),
    expect: { refused: 415 },
  },
  {
    name: 'HTML named .jpg',
    bytes: async () => Buffer.from('<!doctype html><html><body><script>alert(1)</script></body></html>'),
    expect: { refused: 415 },
  },
  {
    name: 'PDF named .jpg',
    bytes: async () =>
      Buffer.from('%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF'),
    expect: { refused: 415 },
  },
  {
    name: 'ImageMagick MVG (ImageTragick) named .jpg',
    bytes: async () =>
      Buffer.from(
        'push graphic-context\nviewbox 0 0 640 480\nfill \'url(https://x.test/"|touch /tmp/pwned")\'\npop graphic-context',
      ),
    expect: { refused: 415 },
  },
  {
    name: 'JPEG with a ZIP archive appended (polyglot)',
    bytes: async () =>
      Buffer.concat([
        await solid(200, 200).jpeg().toBuffer(),
        Buffer.from(
          'PK\u0003\u0004\u0014\u0000\u0000\u0000\u0000\u0000payload.html<script>alert(1)</script>PK\u0005\u0006',
        ),
      ]),
    expect: 'normalized',
  },
  { name: 'animated GIF with 5,000 frames', bytes: async () => animatedGif(5000), expect: 'normalized' },
  {
    name: 'CMYK JPEG',
    bytes: () => solid(120, 90).toColourspace('cmyk').jpeg().toBuffer(),
    expect: 'normalized',
  },
  { name: '16-bit PNG', bytes: () => solid(120, 90).toColourspace('rgb16').png().toBuffer(), expect: 'normalized' },
  { name: 'greyscale JPEG', bytes: () => solid(120, 90).toColourspace('b-w').jpeg().toBuffer(), expect: 'normalized' },
  {
    name: 'palette PNG',
    bytes: () => solid(120, 90).png({ palette: true, colours: 16 }).toBuffer(),
    expect: 'normalized',
  },
  {
    name: 'JPEG with GPS EXIF, rotated by its EXIF orientation',
    bytes: async () =>
      sharp(await quadrantJpeg().png().toBuffer())
        .jpeg()
        .withExif({
          IFD0: { Make: 'Spy Camera', Copyright: 'Someone' },
          IFD3: {
            GPSLatitudeRef: 'N',
            GPSLatitude: '59/1 26/1 0/1',
            GPSLongitudeRef: 'E',
            GPSLongitude: '24/1 45/1 0/1',
          },
        })
        .withMetadata({ orientation: 6 })
        .toBuffer(),
    expect: 'normalized',
  },
  ...SHAPE_CASES,
  {
    name: 'PNG of 16,384 × 2,048 (the longest side and the widest shape allowed)',
    bytes: async () => zeroPng(16_384, 2_048),
    expect: 'normalized',
  },
];

/** Every stored photo file: the only way to be sure a refusal wrote nothing anywhere. */
export async function storedBlobs(services: Services): Promise<string[]> {
  if (services.database.dialect === 'postgres') {
    const rows = await services.database.db.selectFrom('storage_blobs').select('key').execute();
    return rows.map((r) => r.key).sort();
  }
  const root = path.join(services.config.dataDir, 'photos');
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/**
 * Two people with pictures already in place, which no refused upload may disturb: one with a
 * mailbox and a mail photo, one without a mailbox and a picture uploaded in the sites.
 */
export async function peopleWithPictures(services: Services) {
  const withMailbox = await makeUser(services);
  const withoutMailbox = await makeUser(services, { hasMailbox: false });
  await giveMailPhoto(services, withMailbox, await solidJpeg([20, 120, 20], 100));
  const sitesDeps = {
    db: services.database.db,
    blobs: services.blobs,
    lock: services.lock,
    sizes: services.config.renditionSizes,
  };
  await uploadSitePicture(sitesDeps, withoutMailbox, await solidJpeg([20, 20, 120], 100));
  return { withMailbox, withoutMailbox };
}

/** Everything a refused upload might have touched: photos, pictures, the directory photo, files. */
export async function storedPictures(services: Services, users: DirectoryUser[]) {
  const { db } = services.database;
  const perUser = await Promise.all(
    users.map(async (user) => ({
      mail: await getMailPhoto(db, user.id),
      profile: await getSiteProfile(db, user.id),
      large: await getRendition(db, user.id, 'L'),
      directory: (await getDirectoryPhoto(db, user.id))?.toString('base64'),
    })),
  );
  return { perUser, blobs: await storedBlobs(services) };
}

const made = new Map<string, Promise<Buffer>>();

/** A case's bytes, made once per test file however many paths and dialects use them. */
export function hostileBytes(hostile: HostileCase, maxBytes: number): Promise<Buffer> {
  const key = `${hostile.name}/${maxBytes}`;
  let bytes = made.get(key);
  if (!bytes) made.set(key, (bytes = hostile.bytes(maxBytes)));
  return bytes;
}
