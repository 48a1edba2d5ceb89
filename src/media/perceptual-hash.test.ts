import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { faceSvg, type FaceStyle } from '../demo/faces.js';
import { makeMasterPhoto, rasterizeSvg, renderSquareJpegs } from './media.js';
import { comparePictures, pictureDistance, pictureFingerprint, type PictureFingerprint } from './perceptual-hash.js';
import { corpusDir, manyScansJpeg } from './test-helpers.js';

const readCorpus = (...parts: string[]) => fs.readFile(path.join(corpusDir, ...parts));

async function fingerprint(image: Buffer): Promise<PictureFingerprint> {
  const result = await pictureFingerprint(image);
  if (!result.ok) throw new Error(result.reason);
  return result.fingerprint;
}

/** What the comparison sees in a tenant: the Exchange photo at 64 px and SharePoint's 48 px S thumbnail. */
async function exchange64AndSharePoint48(source: Buffer): Promise<[Buffer, Buffer, Buffer]> {
  const master = await makeMasterPhoto(source, { maxSide: 648, maxBytes: 20_000_000 });
  if (!master.ok) throw new Error(master.message);
  const [x64, s48, l300] = await renderSquareJpegs(master.jpeg, [64, 48, 300]);
  return [x64!.jpeg, s48!.jpeg, l300!.jpeg];
}

const FACES: FaceStyle[] = [
  { background: '#cfe3f7', skin: '#e8b894', hair: '#3b2a1e', shirt: '#0f6cbd', hairStyle: 0 },
  { background: '#fde7c8', skin: '#f1c7a5', hair: '#8b4a1c', shirt: '#c239b3', hairStyle: 1 },
  { background: '#d9f2e3', skin: '#d9a47e', hair: '#1f1f1f', shirt: '#107c10', hairStyle: 0 },
  // Same layout and skin as the first, only the other colours differ.
  { background: '#f3d6d8', skin: '#f1c7a5', hair: '#b58a3c', shirt: '#c239b3', hairStyle: 0 },
  { background: '#e6e1f7', skin: '#f1c7a5', hair: '#1f1f1f', shirt: '#107c10', hairStyle: 2 },
  { background: '#d6eef3', skin: '#8d5a3b', hair: '#6b6b6b', shirt: '#ca5010', hairStyle: 1 },
];

describe('comparePictures', () => {
  let sources: Map<string, Buffer>;
  beforeAll(async () => {
    sources = new Map([
      ['landscape', await readCorpus('exif-orientation', 'Landscape_1.jpg')],
      ['portrait', await readCorpus('exif-orientation', 'Portrait_1.jpg')],
      ...(await Promise.all(
        FACES.map(async (style, i) => [`face ${i}`, await rasterizeSvg(faceSvg(style), 720)] as const),
      )),
    ]);
  });

  it('finds the Exchange photo in SharePoint’s thumbnail of it, whatever the size, format or quality', async () => {
    for (const [name, source] of sources) {
      const [x64, s48, l300] = await exchange64AndSharePoint48(source);
      const exchange = await fingerprint(x64);
      const variants = {
        s48,
        'JPEG quality 60': await sharp(s48).jpeg({ quality: 60 }).toBuffer(),
        PNG: await sharp(s48).png().toBuffer(),
        '300 px': l300,
      };
      for (const [variant, image] of Object.entries(variants)) {
        expect([name, variant, comparePictures(exchange, await fingerprint(image))]).toEqual([name, variant, 'same']);
      }
    }
  });

  it('finds the same photo under any EXIF orientation of the original', async () => {
    const [upright] = await exchange64AndSharePoint48(await readCorpus('exif-orientation', 'Landscape_1.jpg'));
    for (const n of [3, 6, 8]) {
      const [, s48] = await exchange64AndSharePoint48(await readCorpus('exif-orientation', `Landscape_${n}.jpg`));
      expect(comparePictures(await fingerprint(upright), await fingerprint(s48))).toBe('same');
    }
  });

  it('tells different photos and portraits apart, including the two that look most alike', async () => {
    const pairs = [...sources.keys()];
    const thumbs = new Map<string, [PictureFingerprint, PictureFingerprint]>();
    for (const [name, source] of sources) {
      const [x64, s48] = await exchange64AndSharePoint48(source);
      thumbs.set(name, [await fingerprint(x64), await fingerprint(s48)]);
    }
    for (const a of pairs) {
      for (const b of pairs) {
        if (a === b) continue;
        expect([a, b, comparePictures(thumbs.get(a)![0], thumbs.get(b)![1])]).toEqual([a, b, 'differs']);
      }
    }
  });

  it('tells a photo from its mirror image, a rotation and a recoloured copy', async () => {
    const source = sources.get('portrait')!;
    const [x64] = await exchange64AndSharePoint48(source);
    const exchange = await fingerprint(x64);
    for (const [name, changed] of [
      ['mirrored', await sharp(source).autoOrient().flop().jpeg().toBuffer()],
      ['rotated', await sharp(source).autoOrient().rotate(90).jpeg().toBuffer()],
      ['tinted', await sharp(source).autoOrient().tint({ r: 255, g: 150, b: 150 }).jpeg().toBuffer()],
    ] as const) {
      const [, s48] = await exchange64AndSharePoint48(changed);
      expect([name, comparePictures(exchange, await fingerprint(s48))]).toEqual([name, 'differs']);
    }
  });

  it('does not call two portraits the same when only their pale backgrounds differ', async () => {
    const style = FACES[4]!;
    const [a] = await exchange64AndSharePoint48(await rasterizeSvg(faceSvg(style), 720));
    const [, b] = await exchange64AndSharePoint48(
      await rasterizeSvg(faceSvg({ ...style, background: '#d6eef3' }), 720),
    );
    expect(comparePictures(await fingerprint(a), await fingerprint(b))).toBe('unknown');
  });

  it('says it cannot tell when the difference is between the bands', async () => {
    const source = sources.get('portrait')!;
    const [x64] = await exchange64AndSharePoint48(source);
    const [, grey48] = await exchange64AndSharePoint48(await sharp(source).autoOrient().greyscale().jpeg().toBuffer());
    const exchange = await fingerprint(x64);
    const grey = await fingerprint(grey48);
    // The greyed copy keeps every gradient but loses its colour: neither the same picture nor another one.
    expect(pictureDistance(exchange, grey).gradientBits).toBeLessThanOrEqual(4);
    expect(comparePictures(exchange, grey)).toBe('unknown');
  });
});

describe('pictureFingerprint', () => {
  it('refuses what is not an image, and corrupt images, without throwing', async () => {
    expect(await pictureFingerprint(Buffer.alloc(0))).toEqual({ ok: false, reason: 'empty' });
    expect(await pictureFingerprint(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toMatchObject({
      ok: false,
    });
    for (const corrupt of ['xcsn0g01.png', 'xhdn0g08.png', 'xlfn0g04.png']) {
      const result = await pictureFingerprint(await readCorpus('pngsuite', corrupt));
      expect([corrupt, result.ok]).toEqual([corrupt, false]);
    }
  });

  it('refuses a picture far larger than any thumbnail before decoding it', async () => {
    const huge = await sharp({ create: { width: 4000, height: 4000, channels: 3, background: '#888' } })
      .png()
      .toBuffer();
    expect(await pictureFingerprint(huge)).toMatchObject({ ok: false, reason: expect.stringMatching(/pixel limit/) });
  });

  it('refuses a JPEG of thousands of scans before decoding it', async () => {
    expect(await pictureFingerprint(manyScansJpeg(32, 32))).toEqual({
      ok: false,
      reason: 'a JPEG of more than 100 scans',
    });
  });
});
