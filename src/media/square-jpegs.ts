import sharp from 'sharp';
import { SMALL_WORK } from './decode-cost.js';
import { libvipsTimeout } from './image-queue.js';
import { JPEG_OUTPUT, WHITE } from './jpeg-output.js';
import { imageQueue, reportMediaEvent } from './media-config.js';

export interface SquareJpeg {
  /** The side the caller asked for. */
  requested: number;
  /** The side actually rendered: requested, or the source's side when that is smaller. */
  side: number;
  jpeg: Buffer;
}

/** Square pixels, as a decode to the largest side needed leaves them. */
export interface DecodedSquare {
  pixels: Buffer;
  side: number;
  channels: 1 | 2 | 3 | 4;
}

function requirePositiveIntegers(sides: readonly number[]): void {
  for (const side of sides) {
    if (!Number.isSafeInteger(side) || side <= 0) {
      throw new RangeError(`every side must be a positive integer, got ${side}`);
    }
  }
}

/**
 * Decodes the source once, already shrunk to the largest side needed, without reading its header
 * first: `withoutEnlargement` keeps a smaller source at its own size, and only such a source (or
 * one too small in one direction) needs the extra centre crop. Resizing in the same pipeline as
 * the decode lets libjpeg decode a 12-megapixel input at 1/2 to 1/8 scale.
 */
async function decodeLargestSquare(source: Buffer, largestRequested: number, seconds: number): Promise<DecodedSquare> {
  const { data, info } = await sharp(source)
    .autoOrient()
    .flatten({ background: WHITE })
    // The master is already square, so the crop position only matters for stray inputs;
    // centre is free whereas the attention strategy would cost a saliency pass every sync.
    .resize(largestRequested, largestRequested, { fit: 'cover', position: 'centre', withoutEnlargement: true })
    .toColourspace('srgb')
    .raw()
    .timeout(libvipsTimeout(seconds))
    .toBuffer({ resolveWithObject: true });
  const channels = info.channels;
  if (info.width === info.height) return { pixels: data, side: info.width, channels };
  const side = Math.min(info.width, info.height);
  const square = await sharp(data, { raw: { width: info.width, height: info.height, channels } })
    .extract({
      left: Math.floor((info.width - side) / 2),
      top: Math.floor((info.height - side) / 2),
      width: side,
      height: side,
    })
    .raw()
    .toBuffer();
  return { pixels: square, side, channels };
}

function fromRaw(decoded: DecodedSquare) {
  return sharp(decoded.pixels, { raw: { width: decoded.side, height: decoded.side, channels: decoded.channels } });
}

/**
 * Square JPEG renditions of a trusted source (normally a master from our own store), in the
 * order requested, from a single decode. Requests larger than the source are not upscaled.
 * The whole render is one job of the image queue (a light one, ahead of large uploads): the
 * decode holds one thread, the encodes after it two when the queue has a slot free (see `encodeSquares`).
 */
export async function renderSquareJpegs(source: Buffer, sides: readonly number[]): Promise<SquareJpeg[]> {
  requirePositiveIntegers(sides);
  if (sides.length === 0) return [];
  const queue = imageQueue();
  return queue.run(SMALL_WORK, async () => {
    const largest = Math.max(...sides);
    reportMediaEvent({ type: 'decoded', source: 'stored' });
    return encodeSquares(await decodeLargestSquare(source, largest, queue.limits().deadlineSeconds), sides);
  });
}

/**
 * One JPEG per requested side from the decoded pixels of the largest: the largest side is encoded
 * as it is, each smaller one resized from those pixels in the same pipeline as its encode. So a
 * render is one decode and one pipeline per side, the least there is (each pipeline has a fixed
 * cost, about that of a 48 px encode); resizing 300 px pixels is a small part of it.
 *
 * The largest encode runs beside the smaller ones, which run one after another, when the image
 * queue has a slot free for it: for S/M/L the two lines are about equal work (L alone against M
 * then S), so a render waits for about half of its encodes. Otherwise they all run in turn.
 */
export async function encodeSquares(decoded: DecodedSquare, sides: readonly number[]): Promise<SquareJpeg[]> {
  const [largest, ...smaller] = [...new Set(sides)].sort((a, b) => b - a);
  if (largest === undefined) return [];
  const encode = async (requested: number) => {
    const side = Math.min(requested, decoded.side);
    const pipeline = side === decoded.side ? fromRaw(decoded) : fromRaw(decoded).resize(side, side);
    return [requested, { side, jpeg: await pipeline.jpeg(JPEG_OUTPUT).toBuffer() }] as const;
  };
  const inTurn = async (all: readonly number[]) => {
    const done = [];
    for (const requested of all) done.push(await encode(requested));
    return done;
  };
  const second = smaller.length > 0 ? imageQueue().borrow() : undefined;
  let rendered: Map<number, { side: number; jpeg: Buffer }>;
  if (!second) {
    rendered = new Map(await inTurn([largest, ...smaller]));
  } else {
    // Both lines end before the slot goes back, even when one fails: the queue counts it as free then.
    const [first, rest] = await Promise.allSettled([encode(largest), inTurn(smaller)]).finally(second);
    if (first.status === 'rejected') throw first.reason;
    if (rest.status === 'rejected') throw rest.reason;
    rendered = new Map([first.value, ...rest.value]);
  }
  return sides.map((requested) => ({ requested, ...rendered.get(requested)! }));
}
