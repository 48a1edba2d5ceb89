// Shared by the media *.test.ts files only; nothing in the app imports this.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import sharp, { type Sharp } from 'sharp';

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
