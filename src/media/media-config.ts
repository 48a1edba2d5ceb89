import { availableParallelism } from 'node:os';
import sharp from 'sharp';
import { createImageQueue, DEFAULT_QUEUE_LIMITS, type ImageQueue, type ImageQueueLimits } from './image-queue.js';

export interface MediaOptions {
  /**
   * libvips threads per image; 0 means one per CPU core. Omitted keeps sharp's own default,
   * which is 1 on glibc Linux without jemalloc (sharp's guard against memory fragmentation)
   * and one per core elsewhere. Images still run in parallel on libuv's thread pool.
   */
  concurrency?: number;
  /** Uploads whose header claims more pixels than this are refused before decoding. */
  maxInputPixels?: number;
  /** The image queue's limits (omitted: DEFAULT_QUEUE_LIMITS). */
  queue?: ImageQueueLimits;
}

// 50 megapixels covers every phone and most DSLRs, while bounding the worst-case decode to a few
// hundred MB; anything larger is far more likely a decompression bomb than a portrait.
export const DEFAULT_MAX_INPUT_PIXELS = 50_000_000;

// Read before anyone changes it, so configureMedia() without options can restore it.
const SHARP_DEFAULT_CONCURRENCY = sharp.concurrency();

let maxInputPixels = DEFAULT_MAX_INPUT_PIXELS;

export function currentMaxInputPixels(): number {
  return maxInputPixels;
}

/**
 * What the media module reports for metrics: image work starting and ending, every decode of a
 * compressed image (an untrusted upload, or a picture from our own store), every refused upload.
 */
export type MediaEvent =
  | { type: 'started'; light: boolean; waitedSeconds: number }
  | { type: 'decoded'; source: 'upload' | 'stored' }
  | { type: 'finished'; light: boolean; seconds: number }
  | { type: 'refused'; reason: string };

const watchers = new Set<(event: MediaEvent) => void>();

/** Calls `watcher` for every MediaEvent until the returned function is called. */
export function watchMedia(watcher: (event: MediaEvent) => void): () => void {
  watchers.add(watcher);
  return () => watchers.delete(watcher);
}

export function reportMediaEvent(event: MediaEvent): void {
  for (const watcher of watchers) watcher(event);
}

// One queue per process, like the libuv thread pool and the libvips settings it guards: two apps
// in one process (tests) still share four threads, so they must share the queue too.
const queue = createImageQueue(DEFAULT_QUEUE_LIMITS, {
  started: (job, waitedSeconds) => reportMediaEvent({ type: 'started', light: job.light, waitedSeconds }),
  finished: (job, seconds) => reportMediaEvent({ type: 'finished', light: job.light, seconds }),
});

export function imageQueue(): ImageQueue {
  return queue;
}

function requireNonNegativeInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
  return value;
}

/**
 * Applies process-wide sharp settings. Every call sets all of them (omitted options fall back to
 * defaults), so calling it again, e.g. from tests, leaves a predictable state.
 */
export function configureMedia(options: MediaOptions = {}): void {
  const concurrency = requireNonNegativeInteger('concurrency', options.concurrency ?? SHARP_DEFAULT_CONCURRENCY);
  const pixels = requireNonNegativeInteger('maxInputPixels', options.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS);
  // 0 would mean "no limit" to sharp; that is never what a caller of this module wants.
  if (pixels === 0) throw new RangeError('maxInputPixels must be positive');

  // sharp documents 0 as "reset to one per core", but libvips 8.18 treats 0 as "keep the current
  // value", so we resolve it ourselves.
  sharp.concurrency(concurrency === 0 ? availableParallelism() : concurrency);
  // No libvips operation cache: every input is a new Buffer, so it never hits, and keeping and
  // evicting its entries cost about 7 % of a sync's render (bench part 1) and 50 MB of memory.
  sharp.cache(false);
  maxInputPixels = pixels;
  // Jobs already running or waiting keep their place; the new limits apply from the next start.
  queue.setLimits(options.queue ?? DEFAULT_QUEUE_LIMITS);
}
