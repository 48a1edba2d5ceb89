// makeMasterPhoto's limits that are about shape and time rather than content: the longest side,
// the aspect ratio, the deadline and the image queue's waiting line.
import { afterEach, describe, expect, it } from 'vitest';
import { configureMedia, DEFAULT_QUEUE_LIMITS, imageQueue, makeMasterPhoto, type ImageQueueLimits } from './media.js';
import { imageQueueIdle, nextMediaEvent, pngWithClaimedSize, zeroPng } from './test-helpers.js';

const LIMITS = { maxSide: 648, maxBytes: 4 * 1024 * 1024 };

/** 50 megapixels of 16-bit RGBA, Adam7-interlaced: accepted by every rule, ~3 s to decode on one core. */
const slowestAccepted = () => zeroPng(7071, 7071, { colourType: 6, bitDepth: 16, interlaced: true });

function useQueue(limits: Partial<ImageQueueLimits>) {
  configureMedia({ queue: { ...DEFAULT_QUEUE_LIMITS, ...limits } });
}

afterEach(async () => {
  configureMedia();
  await imageQueueIdle();
});

describe('makeMasterPhoto: side and aspect, from the header', () => {
  // These headers claim sizes over a token of pixel data: decoding them would fail as corrupt,
  // so a refusal for the shape shows that no decode was tried.
  it.each([
    [
      1,
      25_000_000,
      'side_too_long',
      'The image is 1 × 25000000 pixels, but photos can be at most 16,384 pixels wide or tall.',
    ],
    [
      25_000_000,
      1,
      'side_too_long',
      'The image is 25000000 × 1 pixels, but photos can be at most 16,384 pixels wide or tall.',
    ],
    [
      16_385,
      2_049,
      'side_too_long',
      'The image is 16385 × 2049 pixels, but photos can be at most 16,384 pixels wide or tall.',
    ],
    [
      8_001,
      1_000,
      'aspect_too_extreme',
      "The image is 8001 × 1000 pixels, but a photo's long side can be at most 8 times its short side.",
    ],
    [
      1_000,
      8_001,
      'aspect_too_extreme',
      "The image is 1000 × 8001 pixels, but a photo's long side can be at most 8 times its short side.",
    ],
  ])('refuses %i × %i as %s before decoding', async (width, height, reason, message) => {
    expect(await makeMasterPhoto(pngWithClaimedSize(width, height), LIMITS)).toEqual({ ok: false, reason, message });
  });

  it('refuses the real 48 KB PNG of 1 × 25,000,000 grey pixels, and reports the refusal', async () => {
    const tall = zeroPng(1, 25_000_000);
    expect(tall.length).toBeLessThan(50_000);
    const reported = nextMediaEvent((event) => event.type === 'refused');
    expect(await makeMasterPhoto(tall, LIMITS)).toMatchObject({ ok: false, reason: 'side_too_long' });
    expect(await reported).toEqual({ type: 'refused', reason: 'side_too_long' });
  });

  it.each([
    [16_384, 2_048],
    [2_048, 16_384],
  ])('accepts %i × %i: the longest side and the widest aspect allowed', async (width, height) => {
    expect(await makeMasterPhoto(zeroPng(width, height), LIMITS)).toMatchObject({ ok: true, side: 648 });
  });
});

describe('makeMasterPhoto: the image queue', () => {
  it('answers too_slow when a decode runs past its deadline', async () => {
    // A fifth of a second: the slowest image accepted takes over a second to decode.
    useQueue({ deadlineSeconds: 0.2 });
    const result = await makeMasterPhoto(slowestAccepted(), LIMITS);
    expect(result).toMatchObject({
      ok: false,
      reason: 'too_slow',
      message: 'The image took longer than 0.2 seconds to process; save it as a smaller JPEG or PNG and try again.',
    });
  });

  it('answers busy with a time to try again when the waiting line is full', async () => {
    // A generous deadline: what is tested is the full waiting line, not how fast a loaded machine decodes.
    useQueue({ concurrency: 1, maxWaiting: 0, deadlineSeconds: 300 });
    const started = nextMediaEvent((event) => event.type === 'started');
    const first = makeMasterPhoto(slowestAccepted(), LIMITS);
    await started;
    expect(imageQueue().load().running).toBe(1);
    const second = await makeMasterPhoto(zeroPng(100, 100), LIMITS);
    expect(second).toMatchObject({ ok: false, reason: 'busy' });
    if (!second.ok) {
      expect(second.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(second.message).toMatch(/^The server is busy with other pictures right now; try again in .+\.$/);
    }
    expect(await first).toMatchObject({ ok: true, side: 648 });
    expect(await makeMasterPhoto(zeroPng(100, 100), LIMITS)).toMatchObject({ ok: true });
  }, 300_000);
});
