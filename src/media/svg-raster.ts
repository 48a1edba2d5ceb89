import sharp from 'sharp';
import { SMALL_WORK } from './decode-cost.js';
import { JPEG_OUTPUT, WHITE } from './jpeg-output.js';
import { imageQueue } from './media-config.js';

/**
 * Renders one of OUR OWN SVGs (placeholder, generated demo faces) to a square JPEG (or PNG). Never call
 * this with user input: librsvg parses far more than an upload path should expose, which is why
 * makeMasterPhoto refuses SVG before it reaches sharp.
 */
export async function rasterizeSvg(svg: string, side: number, format: 'jpeg' | 'png' = 'jpeg'): Promise<Buffer> {
  if (!Number.isSafeInteger(side) || side <= 0) {
    throw new RangeError(`side must be a positive integer, got ${side}`);
  }
  // No density needed: when a resize follows, sharp re-renders the vector at the target scale
  // rather than upscaling a 72 dpi bitmap, so small viewBoxes still come out crisp.
  const pipeline = sharp(Buffer.from(svg, 'utf8'))
    .resize(side, side, { fit: 'cover', position: 'centre' })
    .flatten({ background: WHITE })
    .toColourspace('srgb');
  if (format === 'png') pipeline.png();
  else pipeline.jpeg(JPEG_OUTPUT);
  return imageQueue().run(SMALL_WORK, () => pipeline.toBuffer());
}
