// The corpus holds the same photo stored in all 8 EXIF orientations. After our pipeline every one
// must show the same upright pixels as the orientation-1 file, for masters and renditions alike.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { makeMasterPhoto, renderSquareJpegs } from './media.js';
import { corpusDir, greyThumbnail, meanAbsoluteDifference, wrongOrientations } from './test-helpers.js';

const MASTER_SIDE = 648;
const RENDITION_SIDES = [48, 72, 300] as const;
// Measured: same orientation differs by < 2 (re-encoding noise), any wrong one by > 30.
const SAME_PICTURE = 3;
const DIFFERENT_PICTURE = 15;

async function masterOf(file: string): Promise<Buffer> {
  const input = await readFile(path.join(corpusDir, 'exif-orientation', file));
  const result = await makeMasterPhoto(input, { maxSide: MASTER_SIDE, maxBytes: 20_000_000 });
  if (!result.ok) throw new Error(`${file} was refused: ${result.message}`);
  return result.jpeg;
}

async function expectUpright(image: Buffer, reference: Buffer, label: string): Promise<void> {
  const thumb = await greyThumbnail(image);
  const correct = meanAbsoluteDifference(thumb, reference);
  expect(correct, `${label} vs upright reference`).toBeLessThan(SAME_PICTURE);
  for (const [name, wrong] of await wrongOrientations(reference)) {
    expect(meanAbsoluteDifference(thumb, wrong), `${label} vs reference ${name}`).toBeGreaterThan(
      Math.max(DIFFERENT_PICTURE, correct * 5),
    );
  }
}

describe.each(['Landscape', 'Portrait'])('%s series', (series) => {
  const orientations = [0, 1, 2, 3, 4, 5, 6, 7, 8];

  it.each(orientations)(`${series}_%i: master and renditions are upright`, async (n) => {
    const reference = await greyThumbnail(await masterOf(`${series}_1.jpg`));
    const master = await masterOf(`${series}_${n}.jpg`);

    const meta = await sharp(master).metadata();
    expect(meta.format).toBe('jpeg');
    expect([meta.width, meta.height]).toEqual([MASTER_SIDE, MASTER_SIDE]);
    expect(meta.exif).toBeUndefined();
    expect(meta.icc).toBeUndefined();
    expect(meta.xmp).toBeUndefined();
    expect(meta.orientation ?? 1).toBe(1);
    await expectUpright(master, reference, `master ${series}_${n}`);

    const renditions = await renderSquareJpegs(master, RENDITION_SIDES);
    expect(renditions.map((r) => r.side)).toEqual([...RENDITION_SIDES]);
    // A 48 px thumbnail has too little detail for the tight threshold; 300 px is a fair test.
    const largest = renditions.at(-1);
    if (largest === undefined) throw new Error('no renditions');
    expect((await sharp(largest.jpeg).metadata()).exif).toBeUndefined();
    await expectUpright(largest.jpeg, reference, `300 px rendition of ${series}_${n}`);
  });

  it('the check would notice an ignored orientation', async () => {
    // Guard against a vacuous test: decoding orientation-6 pixels without applying EXIF must
    // fail the same comparison that the real pipeline passes.
    const reference = await greyThumbnail(await masterOf(`${series}_1.jpg`));
    const stored = await readFile(path.join(corpusDir, 'exif-orientation', `${series}_6.jpg`));
    const ignoringExif = await sharp(stored)
      .resize(MASTER_SIDE, MASTER_SIDE, { fit: 'cover', position: 'centre' })
      .jpeg()
      .toBuffer();
    const thumb = await greyThumbnail(ignoringExif);
    expect(meanAbsoluteDifference(thumb, reference)).toBeGreaterThan(DIFFERENT_PICTURE);
  });
});
