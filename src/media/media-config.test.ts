import { availableParallelism } from 'node:os';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { configureMedia, makeMasterPhoto } from './media.js';

const sharpDefaultConcurrency = sharp.concurrency();
const LIMITS = { maxSide: 648, maxBytes: 4 * 1024 * 1024 };

function png(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#357' } })
    .png()
    .toBuffer();
}

describe('configureMedia', () => {
  afterEach(() => configureMedia());

  it('sets concurrency and the cache, and can be called again', () => {
    configureMedia({ concurrency: 3 });
    expect(sharp.concurrency()).toBe(3);
    const { files, items, memory } = sharp.cache();
    expect([files.max, items.max, memory.max]).toEqual([0, 0, 0]);

    configureMedia({ concurrency: 0 });
    expect(sharp.concurrency()).toBe(availableParallelism());

    configureMedia();
    expect(sharp.concurrency()).toBe(sharpDefaultConcurrency);
  });

  it('states the default limit in megapixels', async () => {
    const refused = await makeMasterPhoto(await png(10_000, 5_001), { ...LIMITS, maxBytes: 100_000_000 });
    expect(refused).toMatchObject({ ok: false, reason: 'too_many_pixels' });
    if (!refused.ok)
      expect(refused.message).toBe('The image is 10000 × 5001 pixels, but photos can have at most 50 megapixels.');
  });

  it('applies maxInputPixels to makeMasterPhoto, and forgets it when called without it', async () => {
    configureMedia({ maxInputPixels: 10_000 });
    expect(await makeMasterPhoto(await png(100, 100), LIMITS)).toMatchObject({ ok: true });
    const refused = await makeMasterPhoto(await png(101, 100), LIMITS);
    expect(refused).toMatchObject({ ok: false, reason: 'too_many_pixels' });
    if (!refused.ok)
      expect(refused.message).toBe('The image is 101 × 100 pixels, but photos can have at most 10,000 pixels.');

    configureMedia();
    expect(await makeMasterPhoto(await png(101, 100), LIMITS)).toMatchObject({ ok: true });
  });

  it('counts only the first frame of an animation against the limit', async () => {
    const frame = await png(100, 100);
    const animation = await sharp([frame, frame, frame], { join: { animated: true } })
      .gif()
      .toBuffer();
    configureMedia({ maxInputPixels: 10_000 });
    expect(await makeMasterPhoto(animation, LIMITS)).toMatchObject({ ok: true });
  });

  it.each([{ concurrency: -1 }, { concurrency: 1.5 }, { maxInputPixels: 0 }, { maxInputPixels: Number.NaN }])(
    'refuses %o',
    (options) => {
      expect(() => configureMedia(options)).toThrow(RangeError);
    },
  );
});
