import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { countJpegScans, MAX_JPEG_SCANS } from './jpeg-scans.js';
import { makeMasterPhoto } from './master-photo.js';
import { manyScansJpeg } from './test-helpers.js';

const scene = () => sharp({ create: { width: 96, height: 96, channels: 3, background: { r: 200, g: 120, b: 40 } } });

describe('countJpegScans', () => {
  it('counts one scan in a baseline JPEG and libjpeg’s progressive script in a progressive one', async () => {
    expect(countJpegScans(await scene().jpeg().toBuffer())).toBe(1);
    expect(countJpegScans(await scene().jpeg({ progressive: true }).toBuffer())).toBe(10);
  });

  it('stops counting just past the limit', () => {
    const bomb = manyScansJpeg(32, 32);
    expect(countJpegScans(bomb, Number.MAX_SAFE_INTEGER)).toBe(1 + 3 * 63 * 14);
    expect(countJpegScans(bomb)).toBe(MAX_JPEG_SCANS + 1);
  });

  it('counts scans a walk of the segments would lose, and says 0 for what is no JPEG', async () => {
    const jpeg = await scene().jpeg({ progressive: true }).toBuffer();
    const afterSoi = (bytes: number[]) => Buffer.concat([jpeg.subarray(0, 2), Buffer.from(bytes), jpeg.subarray(2)]);
    // Fill bytes, segments whose length is under 2 (libjpeg moves past them), a stray byte.
    for (const prefix of [[0xff, 0xff], [0xff, 0xfe, 0, 0], [0xff, 0xfe, 0, 1], [0xff, 0xe1, 0, 0], [0]]) {
      expect([prefix, countJpegScans(afterSoi(prefix))]).toEqual([prefix, 10]);
    }
    expect(countJpegScans(jpeg.subarray(0, Math.floor(jpeg.length / 2)))).toBeLessThan(10);
    expect(countJpegScans(Buffer.from('not a jpeg'))).toBe(0);
  });
});

describe('a JPEG of more scans than a photo has', () => {
  // Each variant libjpeg decodes on (or reads in full before it fails) while a walk of the segments
  // would stop counting: a segment length of 0 or 1, 0xFF 0xFF 0x00 in coded data, a stray byte.
  const variants: Array<[string, (bomb: Buffer) => Buffer]> = [
    ['as made', (bomb) => bomb],
    ['a comment of length 0 after SOI', (bomb) => insertAt(bomb, 2, [0xff, 0xfe, 0, 0])],
    ['a comment of length 1 after SOI', (bomb) => insertAt(bomb, 2, [0xff, 0xfe, 0, 1])],
    ['an APP1 of length 0 after SOI', (bomb) => insertAt(bomb, 2, [0xff, 0xe1, 0, 0])],
    ['a stray byte after the first segment', (bomb) => insertAt(bomb, 4 + bomb.readUInt16BE(4), [0])],
    [
      '0xFF 0xFF 0x00 in the first scan’s coded data',
      (bomb) => insertAt(bomb, endOfFirstScanHeader(bomb), [0xff, 0xff, 0]),
    ],
  ];

  it.each(variants)('is refused before it is decoded, with a sentence: %s', async (_name, change) => {
    const bomb = change(manyScansJpeg(32, 32));
    expect(countJpegScans(bomb)).toBe(MAX_JPEG_SCANS + 1);
    expect(await makeMasterPhoto(bomb, { maxSide: 648, maxBytes: 4 * 1024 * 1024 })).toMatchObject({
      ok: false,
      reason: 'too_many_scans',
    });
  });

  it('is refused with a sentence, though libjpeg itself takes the file', async () => {
    const bomb = manyScansJpeg(32, 32);
    // libjpeg itself takes the file: the refusal is the count's, not the decoder's.
    expect((await sharp(bomb, { failOn: 'warning' }).metadata()).isProgressive).toBe(true);
    expect(await makeMasterPhoto(bomb, { maxSide: 648, maxBytes: 4 * 1024 * 1024 })).toMatchObject({
      ok: false,
      reason: 'too_many_scans',
      message: expect.stringMatching(/^The image is a JPEG saved in more than 100 passes \(progressive scans\)/),
    });
  });

  it('is taken with a hundred scans', async () => {
    // The bomb cut after its hundredth scan, ended properly: as many passes as the limit allows.
    const bomb = manyScansJpeg(32, 32);
    let at = 2;
    let scans = 0;
    for (;;) {
      if (bomb[at] === 0xff && bomb[at + 1] === 0xda) {
        if (++scans > MAX_JPEG_SCANS) break;
      }
      at++;
    }
    const hundred = Buffer.concat([bomb.subarray(0, at), Buffer.from([0xff, 0xd9])]);
    expect(countJpegScans(hundred)).toBe(MAX_JPEG_SCANS);
    expect(await makeMasterPhoto(hundred, { maxSide: 648, maxBytes: 4 * 1024 * 1024 })).toMatchObject({ ok: true });
  });
});

function insertAt(bytes: Buffer, at: number, inserted: number[]): Buffer {
  return Buffer.concat([bytes.subarray(0, at), Buffer.from(inserted), bytes.subarray(at)]);
}

/** Where the first scan's coded data starts: after its SOS segment. */
function endOfFirstScanHeader(jpeg: Buffer): number {
  const sos = jpeg.indexOf(Buffer.from([0xff, 0xda]));
  return sos + 2 + jpeg.readUInt16BE(sos + 2);
}
