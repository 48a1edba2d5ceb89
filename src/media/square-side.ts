import sharp from 'sharp';

/** The side of one of photosync's own square JPEGs (a master it made), read from the header alone. */
export async function squareSide(jpeg: Buffer): Promise<number> {
  const { width = 0, height = 0 } = await sharp(jpeg).metadata();
  return Math.min(width, height);
}
