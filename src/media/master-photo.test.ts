// makeMasterPhoto on inputs generated here with sharp, so every case states what it feeds in.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  makeMasterPhoto,
  renderSquareJpegs,
  squareJpegsFromUpload,
  watchMedia,
  type ImageRefusalReason,
  type MasterPhoto,
} from './media.js';
import { pixelAt, pngWithClaimedSize } from './test-helpers.js';

const LIMITS = { maxSide: 648, maxBytes: 4 * 1024 * 1024 };

function solid(width: number, height: number, background: string) {
  return sharp({ create: { width, height, channels: 3, background } });
}

async function accepted(input: Buffer, limits = LIMITS): Promise<MasterPhoto> {
  const result = await makeMasterPhoto(input, limits);
  if (!result.ok) throw new Error(`unexpected refusal ${result.reason}: ${result.message}`);
  return result;
}

async function expectRefused(input: Buffer, reason: ImageRefusalReason, limits = LIMITS) {
  const result = await makeMasterPhoto(input, limits);
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.reason).toBe(reason);
  expect(result.message).toMatch(/^[A-Z].*\.$/);
  expect(result.message).not.toMatch(/vips|jpeg:|png:|gif:|webp:/i);
}

describe('makeMasterPhoto: refusals before decoding', () => {
  it('refuses zero bytes as empty', async () => {
    await expectRefused(Buffer.alloc(0), 'empty');
  });

  it('refuses one byte over maxBytes as too_large, and accepts exactly maxBytes', async () => {
    const jpeg = await solid(64, 64, '#456').jpeg().toBuffer();
    await expectRefused(jpeg, 'too_large', { maxSide: 648, maxBytes: jpeg.length - 1 });
    expect((await makeMasterPhoto(jpeg, { maxSide: 648, maxBytes: jpeg.length })).ok).toBe(true);
  });

  it('says how large the file was and what the limit is', async () => {
    const result = await makeMasterPhoto(Buffer.alloc(5 * 1024 * 1024, 1), LIMITS);
    expect(result).toMatchObject({ ok: false, reason: 'too_large' });
    if (!result.ok) expect(result.message).toBe('The file is 5 MB, but photos can be at most 4 MB.');
    const justOver = await makeMasterPhoto(Buffer.alloc(4 * 1024 * 1024 + 1, 1), LIMITS);
    if (!justOver.ok) expect(justOver.message).toBe('The file is 4,194,305 bytes, but photos can be at most 4 MB.');
  });

  it.each([
    [
      'SVG with a script',
      '<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><script>alert(1)</script></svg>',
    ],
    ['SVG with an XML prolog', '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>'],
    ['HTML', '<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>'],
    ['PDF', '%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF'],
    ['plain text', 'hello, this is not a picture'],
    ['RIFF that is not WebP (WAV)', 'RIFF\x24\x00\x00\x00WAVEfmt '],
  ])('refuses %s as unsupported_type', async (_name, text) => {
    await expectRefused(Buffer.from(text, 'latin1'), 'unsupported_type');
  });

  it.each(['tiff', 'avif', 'heif'] as const)('refuses a real %s image as unsupported_type', async (format) => {
    const encoded = await solid(16, 16, '#a33')
      .toFormat(format, format === 'heif' ? { compression: 'av1' } : {})
      .toBuffer();
    await expectRefused(encoded, 'unsupported_type');
  });

  it('refuses a header claiming 60000x60000 pixels from the header alone, without decoding', async () => {
    // The file holds 1 KB of pixel data; the refusal names the dimensions the header claims, so it
    // comes from the check of the header, which runs before any decode.
    const result = await makeMasterPhoto(pngWithClaimedSize(60_000, 60_000), LIMITS);
    expect(result).toMatchObject({ ok: false, reason: 'too_many_pixels' });
    if (!result.ok) expect(result.message).toContain('60000 × 60000');
  });
});

describe('makeMasterPhoto: refusals while decoding', () => {
  it('refuses a truncated JPEG as corrupt and keeps the libvips text out of the message', async () => {
    const noisy = sharp({
      create: {
        width: 400,
        height: 300,
        channels: 3,
        background: '#888',
        noise: { type: 'gaussian', mean: 128, sigma: 40 },
      },
    });
    const jpeg = await noisy.jpeg().toBuffer();
    const result = await makeMasterPhoto(jpeg.subarray(0, Math.floor(jpeg.length / 2)), LIMITS);
    expect(result).toMatchObject({ ok: false, reason: 'corrupt' });
    if (!result.ok) {
      expect(result.message).toBe('The image could not be read; the file may be damaged or incomplete.');
      expect(result.detail).toMatch(/premature end/i);
    }
  });

  it('refuses a file that is only a PNG signature as corrupt', async () => {
    await expectRefused(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), 'corrupt');
  });
});

describe('makeMasterPhoto: normalisation', () => {
  it('removes GPS and all other EXIF, and embeds no ICC profile', async () => {
    const withGps = await solid(800, 600, '#3a7')
      .withExif({ IFD0: { Copyright: 'someone' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 24/1' } })
      .withIccProfile('p3')
      .jpeg()
      .toBuffer();
    const before = await sharp(withGps).metadata();
    expect(before.exif?.toString('latin1')).toContain('someone'); // the fixture really has EXIF
    expect(before.icc).toBeDefined();

    const master = await accepted(withGps);
    const after = await sharp(master.jpeg).metadata();
    expect(after.exif).toBeUndefined();
    expect(after.icc).toBeUndefined();
    expect(after.xmp).toBeUndefined();
    expect(after.iptc).toBeUndefined();
    expect(master.jpeg.includes(Buffer.from('someone'))).toBe(false);
  });

  it('crops to a square of maxSide and encodes a baseline 4:2:0 JPEG', async () => {
    const master = await accepted(await solid(1600, 900, '#222').png().toBuffer());
    const meta = await sharp(master.jpeg).metadata();
    expect(master.side).toBe(648);
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 648, 648]);
    expect(meta.chromaSubsampling).toBe('4:2:0');
    expect(meta.isProgressive).toBe(false);
  });

  it('keeps the middle square of a wide picture, the square the upload page previews', async () => {
    // Grey with a busy, high-contrast strip at the left edge: a saliency crop would go there.
    const strip = await sharp({ create: { width: 200, height: 600, channels: 3, background: '#000' } })
      .composite([{ input: await solid(100, 600, '#fff').png().toBuffer(), left: 0, top: 0, blend: 'over' }])
      .png()
      .toBuffer();
    const wide = await solid(1800, 600, '#808080')
      .composite([
        { input: strip, left: 0, top: 0 },
        { input: await solid(600, 600, '#2a6').png().toBuffer(), left: 600, top: 0 },
      ])
      .png()
      .toBuffer();
    const master = await accepted(wide);
    expect(master.side).toBe(600);
    const [r, g, b] = await pixelAt(master.jpeg, 300, 300);
    expect(Math.abs(r! - 0x22) + Math.abs(g! - 0xaa) + Math.abs(b! - 0x66)).toBeLessThan(30);
    const [er, eg, eb] = await pixelAt(master.jpeg, 2, 300);
    expect(Math.abs(er! - 0x22) + Math.abs(eg! - 0xaa) + Math.abs(eb! - 0x66)).toBeLessThan(30);
  });

  it('never upscales: a 20x30 image gives a 20x20 master', async () => {
    const master = await accepted(await solid(20, 30, '#c60').png().toBuffer());
    expect(master.side).toBe(20);
    const meta = await sharp(master.jpeg).metadata();
    expect([meta.width, meta.height]).toEqual([20, 20]);
  });

  it('flattens transparency onto white', async () => {
    const transparentWithRedCentre = await sharp({
      create: { width: 100, height: 100, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
    })
      .composite([{ input: { create: { width: 40, height: 40, channels: 4, background: '#f00' } }, left: 30, top: 30 }])
      .png()
      .toBuffer();
    const master = await accepted(transparentWithRedCentre);
    expect((await sharp(master.jpeg).metadata()).channels).toBe(3);
    for (const value of await pixelAt(master.jpeg, 2, 2)) expect(value).toBeGreaterThan(250);
    const [r = 0, g = 0, b = 0] = await pixelAt(master.jpeg, 50, 50);
    expect(r).toBeGreaterThan(200);
    expect(g + b).toBeLessThan(60);
  });

  it.each([
    ['CMYK JPEG', () => solid(300, 200, '#2a6').toColourspace('cmyk').jpeg().toBuffer()],
    ['16-bit RGB PNG', () => solid(300, 200, '#2a6').toColourspace('rgb16').png().toBuffer()],
    ['16-bit greyscale PNG', () => solid(300, 200, '#2a6').toColourspace('grey16').png().toBuffer()],
    ['8-bit greyscale PNG', () => solid(300, 200, '#2a6').toColourspace('b-w').png().toBuffer()],
    ['palette PNG', () => solid(300, 200, '#2a6').png({ palette: true }).toBuffer()],
    ['lossless WebP', () => solid(300, 200, '#2a6').webp({ lossless: true }).toBuffer()],
  ])('turns a %s into an 8-bit 3-channel sRGB JPEG', async (_name, make) => {
    const master = await accepted(await make());
    const meta = await sharp(master.jpeg).metadata();
    expect([meta.format, meta.space, meta.channels, meta.depth]).toEqual(['jpeg', 'srgb', 3, 'uchar']);
    expect(meta.icc).toBeUndefined();
    expect(master.side).toBe(200);
  });

  it('keeps colours right for a 16-bit PNG with an embedded profile', async () => {
    // sharp alone shifts (230,20,20) to about (211,51,39) here; see masterPipeline.
    const red16 = await solid(64, 64, 'rgb(230,20,20)').toColourspace('rgb16').withIccProfile('srgb').png().toBuffer();
    const [r = 0, g = 0, b = 0] = await pixelAt((await accepted(red16)).jpeg, 32, 32);
    expect(Math.abs(r - 230) + Math.abs(g - 20) + Math.abs(b - 20)).toBeLessThan(15);
  });

  it.each(['gif', 'webp'] as const)('uses only the first frame of an animated %s', async (format) => {
    const red = await solid(60, 40, '#f00').png().toBuffer();
    const blue = await solid(60, 40, '#00f').png().toBuffer();
    const animation = await sharp([red, blue], { join: { animated: true } })
      .toFormat(format)
      .toBuffer();
    expect((await sharp(animation).metadata()).pages).toBe(2);

    const master = await accepted(animation);
    expect(master.side).toBe(40);
    const [r = 0, g = 0, b = 0] = await pixelAt(master.jpeg, 20, 20);
    expect(r).toBeGreaterThan(200);
    expect(g + b).toBeLessThan(60);
  });

  it('is deterministic, so the same upload keeps the same content tag', async () => {
    const photo = await solid(900, 700, '#468').jpeg().toBuffer();
    const [first, second] = await Promise.all([accepted(photo), accepted(photo)]);
    expect(first.jpeg.equals(second.jpeg)).toBe(true);
  });
});

describe('makeMasterPhoto: programming errors still throw', () => {
  it.each([0, -1, 1.5, Number.NaN])('rejects maxSide %s', async (maxSide) => {
    await expect(makeMasterPhoto(Buffer.from('x'), { maxSide, maxBytes: 10 })).rejects.toThrow(RangeError);
  });
});

describe('squareJpegsFromUpload', () => {
  /** The decodes the media module reports while `work` runs. */
  async function decodesDuring(work: () => Promise<unknown>): Promise<string[]> {
    const seen: string[] = [];
    const stop = watchMedia((event) => {
      if (event.type === 'decoded') seen.push(event.source);
    });
    try {
      await work();
    } finally {
      stop();
    }
    return seen;
  }

  it('decodes the picture once for every size, where a master and its renditions take two decodes', async () => {
    const photo = await solid(1200, 900, '#3a7').jpeg().toBuffer();
    let made: Awaited<ReturnType<typeof squareJpegsFromUpload>> | undefined;
    expect(
      await decodesDuring(async () => {
        made = await squareJpegsFromUpload(photo, { sides: [48, 72, 300], maxBytes: LIMITS.maxBytes });
      }),
    ).toEqual(['upload']);
    if (!made?.ok) throw new Error('refused');
    expect(made.renditions.map(({ requested, side }) => [requested, side])).toEqual([
      [48, 48],
      [72, 72],
      [300, 300],
    ]);
    for (const { jpeg, side } of made.renditions) {
      const meta = await sharp(jpeg).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', side, side]);
    }
    expect(
      await decodesDuring(async () => {
        const master = await makeMasterPhoto(photo, LIMITS);
        if (!master.ok) throw new Error(master.message);
        await renderSquareJpegs(master.jpeg, [48, 72, 300]);
      }),
    ).toEqual(['upload', 'stored']);
  });

  it('never upscales, and refuses what makeMasterPhoto refuses', async () => {
    const small = await squareJpegsFromUpload(await solid(60, 80, '#a33').png().toBuffer(), {
      sides: [48, 72, 300],
      maxBytes: LIMITS.maxBytes,
    });
    if (!small.ok) throw new Error(small.message);
    expect(small.renditions.map(({ side }) => side)).toEqual([48, 60, 60]);
    const refused = await squareJpegsFromUpload(Buffer.from('not a picture'), { sides: [48], maxBytes: 1000 });
    expect(refused).toMatchObject({ ok: false, reason: 'unsupported_type' });
  });
});
