import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { makeMasterPhoto, rasterizeSvg, renderSquareJpegs } from './media.js';
import { greyThumbnail, meanAbsoluteDifference, pixelAt } from './test-helpers.js';

async function masterOfSide(side: number): Promise<Buffer> {
  const photo = await sharp({
    create: {
      width: side,
      height: side,
      channels: 3,
      background: '#888',
      noise: { type: 'gaussian', mean: 120, sigma: 50 },
    },
  })
    .jpeg()
    .toBuffer();
  const master = await makeMasterPhoto(photo, { maxSide: 648, maxBytes: 10_000_000 });
  if (!master.ok) throw new Error(master.message);
  return master.jpeg;
}

async function sizeOf(jpeg: Buffer): Promise<[string, number, number]> {
  const meta = await sharp(jpeg).metadata();
  return [meta.format, meta.width, meta.height];
}

const isRed = ([r = 0, g = 0, b = 0]: number[]) => r > 200 && g + b < 80;
const isBlue = ([r = 0, g = 0, b = 0]: number[]) => b > 200 && r + g < 80;

describe('renderSquareJpegs', () => {
  it('renders a 648 master at 48, 72 and 300 in that order', async () => {
    const renditions = await renderSquareJpegs(await masterOfSide(648), [48, 72, 300]);
    expect(renditions.map(({ requested, side }) => [requested, side])).toEqual([
      [48, 48],
      [72, 72],
      [300, 300],
    ]);
    for (const { jpeg, side } of renditions) expect(await sizeOf(jpeg)).toEqual(['jpeg', side, side]);
  });

  it('keeps the caller order and duplicates, whatever the largest side is', async () => {
    const renditions = await renderSquareJpegs(await masterOfSide(648), [300, 48, 648, 48]);
    expect(renditions.map((r) => r.side)).toEqual([300, 48, 648, 48]);
    expect(renditions[1]?.jpeg.equals(renditions[3]?.jpeg ?? Buffer.alloc(0))).toBe(true);
  });

  it('never upscales: a 20 px master gives 20 px for every request', async () => {
    const renditions = await renderSquareJpegs(await masterOfSide(20), [48, 72, 300]);
    expect(renditions.map(({ requested, side }) => [requested, side])).toEqual([
      [48, 20],
      [72, 20],
      [300, 20],
    ]);
    for (const { jpeg } of renditions) expect(await sizeOf(jpeg)).toEqual(['jpeg', 20, 20]);
  });

  it('crops a source that is not square, or smaller than asked in one direction, to its centre square', async () => {
    // 200x100: red on the outer quarters, blue in the middle 100x100.
    const wide = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#f00' } })
      .composite([
        { input: { create: { width: 100, height: 100, channels: 3, background: '#00f' } }, left: 50, top: 0 },
      ])
      .png()
      .toBuffer();
    const renditions = await renderSquareJpegs(wide, [48, 72, 300]);
    expect(renditions.map(({ requested, side }) => [requested, side])).toEqual([
      [48, 48],
      [72, 72],
      [300, 100],
    ]);
    for (const { jpeg, side } of renditions) {
      expect(await sizeOf(jpeg)).toEqual(['jpeg', side, side]);
      expect(isBlue(await pixelAt(jpeg, 2, 2))).toBe(true);
    }
  });

  it('looks like the master it came from', async () => {
    const master = await masterOfSide(648);
    const [rendition] = await renderSquareJpegs(master, [300]);
    if (!rendition) throw new Error('no rendition');
    const difference = meanAbsoluteDifference(await greyThumbnail(rendition.jpeg), await greyThumbnail(master));
    expect(difference).toBeLessThan(4);
  });

  it('returns nothing for no sides and throws on a side that is not a positive integer', async () => {
    const master = await masterOfSide(64);
    expect(await renderSquareJpegs(master, [])).toEqual([]);
    await expect(renderSquareJpegs(master, [48, 0])).rejects.toThrow(RangeError);
    await expect(renderSquareJpegs(master, [47.5])).rejects.toThrow(RangeError);
  });

  it('copes with a 12-megapixel camera JPEG stored sideways (EXIF orientation 6)', async () => {
    // Stored 4000x3000, left half red, right half blue; orientation 6 means "rotate 90° clockwise
    // to display", so upright it is 3000x4000 with red on top and blue below.
    const halves = [
      { input: { create: { width: 2000, height: 3000, channels: 3 as const, background: '#f00' } }, left: 0, top: 0 },
      {
        input: { create: { width: 2000, height: 3000, channels: 3 as const, background: '#00f' } },
        left: 2000,
        top: 0,
      },
    ];
    const camera = await sharp({ create: { width: 4000, height: 3000, channels: 3, background: '#000' } })
      .composite(halves)
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 90 })
      .toBuffer();
    expect((await sharp(camera).metadata()).orientation).toBe(6);

    const renditions = await renderSquareJpegs(camera, [648, 300, 48]);
    expect(renditions.map((r) => r.side)).toEqual([648, 300, 48]);
    const largest = renditions[0]?.jpeg ?? Buffer.alloc(0);
    expect(await sizeOf(largest)).toEqual(['jpeg', 648, 648]);
    expect((await sharp(largest).metadata()).exif).toBeUndefined();
    expect(isRed(await pixelAt(largest, 20, 20))).toBe(true);
    expect(isBlue(await pixelAt(largest, 20, 628))).toBe(true);
  });
});

describe('rasterizeSvg', () => {
  // Left half black, right half transparent, 10 units wide.
  const halfBlack =
    '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" viewBox="0 0 10 10"><rect width="5" height="10" fill="#000"/></svg>';

  it('renders a square JPEG with transparency on white', async () => {
    const jpeg = await rasterizeSvg(halfBlack, 200);
    expect(await sizeOf(jpeg)).toEqual(['jpeg', 200, 200]);
    for (const value of await pixelAt(jpeg, 190, 100)) expect(value).toBeGreaterThan(245);
  });

  it('renders the vector at the target size instead of enlarging a 10 px bitmap', async () => {
    const jpeg = await rasterizeSvg(halfBlack, 200);
    // An upscaled 10 px raster would blur the edge over ~20 px around x = 100.
    for (const value of await pixelAt(jpeg, 94, 100)) expect(value).toBeLessThan(30);
    for (const value of await pixelAt(jpeg, 106, 100)) expect(value).toBeGreaterThan(225);
  });

  it('crops a non-square drawing to a square', async () => {
    const wide =
      '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="100"><rect width="300" height="100" fill="#0a0"/></svg>';
    expect(await sizeOf(await rasterizeSvg(wide, 72))).toEqual(['jpeg', 72, 72]);
  });
});
