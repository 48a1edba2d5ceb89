import sharp, { type SharpOptions } from 'sharp';
import { SMALL_WORK } from './decode-cost.js';
import { libvipsTimeout } from './image-queue.js';
import { sniffImageType } from './image-type.js';
import { countJpegScans, MAX_JPEG_SCANS } from './jpeg-scans.js';
import { WHITE } from './jpeg-output.js';
import { imageQueue, reportMediaEvent } from './media-config.js';

// Whether two small pictures show the same photo, without trusting either: a 64-bit difference
// hash (dHash) of the brightness gradients, which survives re-encoding and resizing (48 px
// against 64 px, JPEG against JPEG at another quality), and a 4×4 colour signature, since a
// gradient hash alone cannot tell two portraits of the same layout in different colours apart.
// Used to compare an Exchange photo with a SharePoint thumbnail when neither ETag can tell.

/** Inputs here are tiny thumbnails from another service: anything larger is refused before decoding. */
const MAX_PIXELS = 2048 * 2048;
// Untrusted bytes: corrupt input fails (failOn 'warning'); only the first frame is read.
const DECODE: SharpOptions = { failOn: 'warning', pages: 1, animated: false, limitInputPixels: MAX_PIXELS };
const WORK_SIDE = 32;

export interface PictureFingerprint {
  /**
   * 8 rows × 8 comparisons of horizontally adjacent brightness: a bit in `brighter` says the
   * pixel is clearly brighter than its right neighbour, in `darker` clearly darker, in neither
   * that the two are about equal (a flat area, where JPEG noise would otherwise flip the bit).
   */
  brighter: bigint;
  darker: bigint;
  /** Mean sRGB of a 4×4 grid, 48 bytes. */
  colour: Uint8Array;
}

export type FingerprintResult = { ok: true; fingerprint: PictureFingerprint } | { ok: false; reason: string };

export async function pictureFingerprint(image: Buffer): Promise<FingerprintResult> {
  if (image.length === 0) return { ok: false, reason: 'empty' };
  const type = sniffImageType(image);
  if (type === null) return { ok: false, reason: 'not a JPEG, PNG, GIF or WebP image' };
  // Every scan is read before the first row, past the deadline's reach (./jpeg-scans.ts).
  if (type === 'jpeg' && countJpegScans(image) > MAX_JPEG_SCANS) {
    return { ok: false, reason: `a JPEG of more than ${MAX_JPEG_SCANS} scans` };
  }
  try {
    const queue = imageQueue();
    const seconds = queue.limits().deadlineSeconds;
    // One job of the image queue: one decode into a small sRGB square, both signatures from it.
    const { grey, colour } = await queue.run(SMALL_WORK, async () => {
      reportMediaEvent({ type: 'decoded', source: 'upload' });
      const { data, info } = await sharp(image, DECODE)
        .autoOrient()
        .flatten({ background: WHITE })
        .resize(WORK_SIDE, WORK_SIDE, { fit: 'fill', fastShrinkOnLoad: false })
        .toColourspace('srgb')
        .removeAlpha()
        .raw()
        .timeout(libvipsTimeout(seconds))
        .toBuffer({ resolveWithObject: true });
      const raw = { raw: { width: info.width, height: info.height, channels: info.channels } };
      return {
        grey: await sharp(data, raw).greyscale().resize(9, 8, { fit: 'fill' }).raw().toBuffer(),
        colour: await sharp(data, raw).resize(4, 4, { fit: 'fill' }).raw().toBuffer(),
      };
    });
    return { ok: true, fingerprint: { ...differenceHash(grey), colour: new Uint8Array(colour) } };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
}

/** Brightness steps smaller than this (of 255) count as flat. */
const FLAT = 3;

/** 9×8 greyscale pixels → which of the 64 horizontal neighbours are clearly brighter or darker. */
function differenceHash(grey: Buffer): { brighter: bigint; darker: bigint } {
  let brighter = 0n;
  let darker = 0n;
  for (let y = 0; y < 8; y += 1) {
    for (let x = 0; x < 8; x += 1) {
      const step = grey[y * 9 + x]! - grey[y * 9 + x + 1]!;
      brighter = (brighter << 1n) | (step > FLAT ? 1n : 0n);
      darker = (darker << 1n) | (step < -FLAT ? 1n : 0n);
    }
  }
  return { brighter, darker };
}

function bitCount(value: bigint): number {
  let bits = 0;
  for (let x = value; x > 0n; x >>= 1n) bits += Number(x & 1n);
  return bits;
}

export interface PictureDistance {
  /**
   * Gradients that disagree, 0–64: a step one way in one picture and the other way in the other
   * counts 1, a step in one where the other is flat counts ½.
   */
  gradientBits: number;
  /** Mean absolute difference of the colour signatures, 0–255. */
  colour: number;
}

export function pictureDistance(a: PictureFingerprint, b: PictureFingerprint): PictureDistance {
  const opposite = (a.brighter & b.darker) | (a.darker & b.brighter);
  const oneFlat = (a.brighter | a.darker) ^ (b.brighter | b.darker);
  const bits = bitCount(opposite) + bitCount(oneFlat & ~opposite) / 2;
  let sum = 0;
  for (let i = 0; i < a.colour.length; i += 1) sum += Math.abs(a.colour[i]! - (b.colour[i] ?? 0));
  return { gradientBits: bits, colour: sum / a.colour.length };
}

// Thresholds measured on the shared corpus's photos and 30 demo portraits, each against its own
// renders at 48–300 px, as PNG and as JPEG of quality 40–60 (the same picture: at most 4.5
// gradients and a colour distance of 1.9), and against each other (the closest different
// portraits: 5–7.5 gradients with a colour distance of 9.3–9.7); see perceptual-hash.test.ts.
// "Same" is strict, since calling a stale picture current would hide it; between the bands
// nothing can honestly be said.
const SAME = { gradientBits: 6, colour: 3 };
const DIFFERS = { gradientBits: 12, colour: 8 };

export type PictureVerdict = 'same' | 'differs' | 'unknown';

export function comparePictures(a: PictureFingerprint, b: PictureFingerprint): PictureVerdict {
  const distance = pictureDistance(a, b);
  if (distance.gradientBits >= DIFFERS.gradientBits || distance.colour >= DIFFERS.colour) return 'differs';
  if (distance.gradientBits <= SAME.gradientBits && distance.colour <= SAME.colour) return 'same';
  return 'unknown';
}
