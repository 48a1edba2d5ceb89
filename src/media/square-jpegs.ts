import sharp from 'sharp';
import { JPEG_OUTPUT, WHITE } from './jpeg-output.js';

export interface SquareJpeg {
  /** The side the caller asked for. */
  requested: number;
  /** The side actually rendered: requested, or the source's side when that is smaller. */
  side: number;
  jpeg: Buffer;
}

interface DecodedSquare {
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
 * Decodes the source once, already shrunk to the largest side needed. Resizing in the same
 * pipeline as the decode lets libjpeg decode a 12-megapixel input at 1/2 to 1/8 scale.
 */
async function decodeLargestSquare(source: Buffer, largestRequested: number): Promise<DecodedSquare> {
  // Header only: we need the upright size to know whether the largest request would upscale.
  const header = await sharp(source).metadata();
  const side = Math.min(largestRequested, header.autoOrient.width, header.autoOrient.height);
  const { data, info } = await sharp(source)
    .autoOrient()
    .flatten({ background: WHITE })
    // The master is already square, so the crop position only matters for stray inputs;
    // centre is free whereas the attention strategy would cost a saliency pass every sync.
    .resize(side, side, { fit: 'cover', position: 'centre' })
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { pixels: data, side: info.width, channels: info.channels };
}

async function encodeSquare(decoded: DecodedSquare, side: number): Promise<Buffer> {
  const raw = { width: decoded.side, height: decoded.side, channels: decoded.channels };
  const pipeline = sharp(decoded.pixels, { raw });
  const sized = side === decoded.side ? pipeline : pipeline.resize(side, side);
  return sized.jpeg(JPEG_OUTPUT).toBuffer();
}

/**
 * Square JPEG renditions of a trusted source (normally a master from our own store), in the
 * order requested, from a single decode. Requests larger than the source are not upscaled.
 */
export async function renderSquareJpegs(source: Buffer, sides: readonly number[]): Promise<SquareJpeg[]> {
  requirePositiveIntegers(sides);
  if (sides.length === 0) return [];
  const decoded = await decodeLargestSquare(source, Math.max(...sides));
  return Promise.all(
    sides.map(async (requested) => {
      const side = Math.min(requested, decoded.side);
      return { requested, side, jpeg: await encodeSquare(decoded, side) };
    }),
  );
}
