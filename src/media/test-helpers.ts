// Shared by the tests and the bench; nothing in the app imports this.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import { imageQueue, watchMedia, type MediaEvent } from './media.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Read-only test images shared between checkouts; never copied into the repository. */
export const corpusDir = path.resolve(repoRoot, '../shared/corpus');

export const THUMB_SIDE = 32;

/** A tiny greyscale fingerprint, so orientation can be compared on pixels, not on metadata. */
export async function greyThumbnail(image: Buffer): Promise<Buffer> {
  return (
    sharp(image)
      // libjpeg's shrink-on-load rounds partial 8x8 blocks, shifting content by up to a pixel of
      // the shrunk image; at 32 px that alone gives a mean difference of ~7 on a detailed photo.
      .resize(THUMB_SIDE, THUMB_SIDE, { fit: 'fill', fastShrinkOnLoad: false })
      .greyscale()
      .raw()
      .toBuffer()
  );
}

export function meanAbsoluteDifference(a: Buffer, b: Buffer): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let sum = 0;
  for (let i = 0; i < a.length; i += 1) sum += Math.abs((a[i] ?? 0) - (b[i] ?? 0));
  return sum / a.length;
}

/** Every way a square thumbnail can be wrongly oriented (the 7 non-identity EXIF transforms). */
export async function wrongOrientations(thumb: Buffer): Promise<Map<string, Buffer>> {
  const raw = { raw: { width: THUMB_SIDE, height: THUMB_SIDE, channels: 1 as const } };
  const variant = (build: (image: Sharp) => Sharp): Promise<Buffer> =>
    build(sharp(thumb, raw)).toColourspace('b-w').raw().toBuffer();
  return new Map([
    ['mirrored', await variant((i) => i.flop())],
    ['upside down', await variant((i) => i.rotate(180))],
    ['flipped', await variant((i) => i.flip())],
    ['transposed', await variant((i) => i.rotate(90).flop())],
    ['rotated 90', await variant((i) => i.rotate(90))],
    ['transversed', await variant((i) => i.rotate(270).flop())],
    ['rotated 270', await variant((i) => i.rotate(270))],
  ]);
}

/** Raw RGB(A) of one pixel of an encoded image. */
export async function pixelAt(image: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(image).raw().toBuffer({ resolveWithObject: true });
  const start = (y * info.width + x) * info.channels;
  return [...data.subarray(start, start + info.channels)];
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(typeAndData) >>> 0);
  return Buffer.concat([length, typeAndData, crc]);
}

/**
 * A structurally valid PNG whose IHDR claims width x height (8-bit RGB) but which carries only
 * a token IDAT: decoding it for real would need gigabytes, reading its header takes microseconds.
 */
export function pngWithClaimedSize(width: number, height: number): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type RGB; compression, filter and interlace stay 0
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    signature,
    pngChunk('IHDR', header),
    pngChunk('IDAT', zlib.deflateSync(Buffer.alloc(1024))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

/** Bytes of filtered scanlines a PNG decoder inflates: one filter byte plus the packed samples per row. */
function scanlineBytes(width: number, height: number, bitsPerPixel: number, interlaced: boolean): number {
  const rows = (w: number, h: number) => (w === 0 ? 0 : h * (1 + Math.ceil((w * bitsPerPixel) / 8)));
  if (!interlaced) return rows(width, height);
  let total = 0;
  for (const [x0, y0, dx, dy] of ADAM7) {
    total += rows(Math.ceil(Math.max(0, width - x0) / dx), Math.ceil(Math.max(0, height - y0) / dy));
  }
  return total;
}

export interface ZeroPngOptions {
  /** PNG colour type: 0 grey, 2 RGB, 4 grey + alpha, 6 RGBA. */
  colourType?: 0 | 2 | 4 | 6;
  bitDepth?: 8 | 16;
  /** Adam7: decoders must hold the whole image before the last pass. */
  interlaced?: boolean;
}

/**
 * A complete, valid PNG of any size whose pixels are all zero, made in milliseconds: one deflated
 * megabyte of zeros (ending in a full flush, so copies join into one stream) repeated, which is
 * also how a decompression bomb is made. 1 × 25,000,000 grey is 48 KB.
 */
export function zeroPng(width: number, height: number, options: ZeroPngOptions = {}): Buffer {
  const { colourType = 0, bitDepth = 8, interlaced = false } = options;
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colourType];
  const total = scanlineBytes(width, height, channels * bitDepth, interlaced);
  const blockSize = 1024 * 1024;
  const flushed = (bytes: number) =>
    zlib.deflateRawSync(Buffer.alloc(bytes), { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH });
  const block = flushed(blockSize);
  const rest = total % blockSize;
  const adler = Buffer.alloc(4);
  adler.writeUInt32BE((((total % 65521) << 16) | 1) >>> 0);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colourType;
  ihdr[12] = interlaced ? 1 : 0;
  const idat = Buffer.concat([
    Buffer.from([0x78, 0xda]),
    ...Array.from({ length: Math.floor(total / blockSize) }, () => block),
    ...(rest > 0 ? [flushed(rest)] : []),
    Buffer.from([0x03, 0x00]), // the final, empty block
    adler,
  ]);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', Buffer.alloc(0))]);
}

/**
 * A smooth 7000 × 7000 scene (drawn small and enlarged: quick to make, and it compresses like a
 * photo), as a maker of sharp pipelines for its encodings: `.jpeg({ quality: 94, progressive:
 * true })` is the ~570 KB progressive JPEG whose decode needs ~150 MB.
 */
export async function largeScene(): Promise<() => Sharp> {
  const svg = Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" width="700" height="700"><defs>' +
      '<linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#2a6"/>' +
      '<stop offset="1" stop-color="#c52"/></linearGradient></defs><rect width="100%" height="100%" fill="url(#g)"/>' +
      '<circle cx="350" cy="300" r="180" fill="#eca"/></svg>',
  );
  const { data, info } = await sharp(svg).removeAlpha().resize(7000, 7000).raw().toBuffer({ resolveWithObject: true });
  return () => sharp(data, { raw: info });
}

/** The images whose decode holds the most memory, each accepted by every rule (~230–450 MB each). */
export async function hungryImages(scene: () => Sharp): Promise<Buffer[]> {
  return [
    // 50 megapixels of interlaced 16-bit RGBA: the whole image, 8 bytes a pixel, before the last pass.
    zeroPng(7071, 7071, { colourType: 6, bitDepth: 16, interlaced: true }),
    // Progressive JPEG keeps every coefficient of every plane; 4:4:4 keeps full-size colour planes.
    await scene().jpeg({ quality: 80, progressive: true, chromaSubsampling: '4:4:4' }).toBuffer(),
    // GIF frames are decoded whole as RGBA.
    await scene().gif({ colours: 4, dither: 0 }).toBuffer(),
  ];
}

/** Resolves at the next event the media module reports that matches. */
export function nextMediaEvent(matches: (event: MediaEvent) => boolean): Promise<MediaEvent> {
  return new Promise((resolve) => {
    const stop = watchMedia((event) => {
      if (!matches(event)) return;
      stop();
      resolve(event);
    });
  });
}

/** Until no image work runs or waits: a decode answered at its deadline still runs until libvips stops it. */
export async function imageQueueIdle(): Promise<void> {
  while (imageQueue().load().running + imageQueue().load().waiting > 0) {
    await nextMediaEvent((event) => event.type === 'finished');
  }
}

/**
 * A valid progressive JPEG whose coefficients are all zero, made of as many scans as the format
 * allows: the DC scan, then every AC coefficient of every component on its own, refined bit by bit
 * (successive approximation from bit 13 down to 0): 1 + 3 × 63 × 14 = 2,647 scans. libjpeg reads
 * them all before the first row; at 16,384 × 2,048 that is about 20 s of one core from 350 KB.
 * The block count (width / 8 × height / 8, whole blocks) must leave 16 to 31 over 32,767 (for
 * 32 × 32 it is 16, for 16,384 × 2,048 it is 524,288).
 */
export function manyScansJpeg(width: number, height: number): Buffer {
  const COMPONENTS = 3;
  const segment = (marker: number, data: Buffer) => {
    const head = Buffer.from([0xff, marker, 0, 0]);
    head.writeUInt16BE(data.length + 2, 2);
    return Buffer.concat([head, data]);
  };
  /** Entropy-coded bits, most significant first, padded with ones, 0xFF stuffed. */
  const codedBits = (write: (put: (value: number, bits: number) => void) => void) => {
    const bits: number[] = [];
    write((value, count) => {
      for (let i = count - 1; i >= 0; i--) bits.push((value >> i) & 1);
    });
    while (bits.length % 8 !== 0) bits.push(1);
    const out: number[] = [];
    for (let i = 0; i < bits.length; i += 8) {
      const byte = bits.slice(i, i + 8).reduce((acc, bit) => (acc << 1) | bit, 0);
      out.push(byte);
      if (byte === 0xff) out.push(0);
    }
    return Buffer.from(out);
  };
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8);
  const frame = Buffer.alloc(6 + 3 * COMPONENTS);
  frame.writeUInt8(8, 0);
  frame.writeUInt16BE(height, 1);
  frame.writeUInt16BE(width, 3);
  frame.writeUInt8(COMPONENTS, 5);
  for (let c = 0; c < COMPONENTS; c++) frame.set([c + 1, 0x11, 0], 6 + 3 * c);
  const parts = [
    Buffer.from([0xff, 0xd8]),
    segment(0xe0, Buffer.from('JFIF\0\x01\x01\0\0\x01\0\x01\0\0', 'latin1')),
    segment(0xdb, Buffer.concat([Buffer.from([0]), Buffer.alloc(64, 1)])),
    segment(0xc2, frame),
    // DC: one code ("0") for category 0. AC: "00" for a run of 2^14 + 14 bits of blocks, "01" for 2^4 + 4 bits.
    segment(0xc4, Buffer.from([0x00, 1, ...Array<number>(15).fill(0), 0])),
    segment(0xc4, Buffer.from([0x10, 0, 2, ...Array<number>(14).fill(0), 0xe0, 0x40])),
  ];
  const dcScan = Buffer.from([COMPONENTS, ...Array.from({ length: COMPONENTS }, (_, c) => [c + 1, 0]).flat(), 0, 0, 0]);
  parts.push(
    segment(0xda, dcScan),
    codedBits((put) => {
      for (let i = 0; i < blocks * COMPONENTS; i++) put(0, 1);
    }),
  );
  // Every block's band empty: end-of-band runs covering all the blocks.
  const emptyBand = codedBits((put) => {
    let left = blocks;
    for (; left >= 32_767; left -= 32_767) {
      put(0, 2);
      put(16_383, 14);
    }
    if (left < 16 || left > 31) throw new RangeError(`${width} × ${height} leaves ${left} blocks over 32,767`);
    put(1, 2);
    put(left - 16, 4);
  });
  for (let c = 0; c < COMPONENTS; c++) {
    for (let k = 1; k < 64; k++) {
      parts.push(segment(0xda, Buffer.from([1, c + 1, 0, k, k, 13])), emptyBand);
      for (let bit = 13; bit > 0; bit--) {
        parts.push(segment(0xda, Buffer.from([1, c + 1, 0, k, k, (bit << 4) | (bit - 1)])), emptyBand);
      }
    }
  }
  parts.push(Buffer.from([0xff, 0xd9]));
  return Buffer.concat(parts);
}
