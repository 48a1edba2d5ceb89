import type { Metadata } from 'sharp';
import type { ImageJob } from './image-queue.js';

// What a decode will cost, judged from the header alone, so the queue can keep large decodes
// apart before any pixel is read. Measured peaks of makeMasterPhoto on 7000 × 7000 inputs
// (libvips 8.18, one thread): baseline JPEG 6 MB (libjpeg shrinks on load), progressive JPEG
// 145 MB (4:2:0) to 384 MB (CMYK 4:4:4) for its coefficient buffer, interlaced 16-bit RGBA PNG
// 435 MB (the whole image), plain PNG 44–88 MB, GIF 230 MB, lossless WebP 192 MB. The figures
// below are a little above those, per pixel.

/** Uploads of at most this many pixels decode in well under a second: light work. */
export const LIGHT_PIXELS = 4_000_000;

const MB = 1024 * 1024;
/** The resize, crop and encode after the decode, at most a few megapixels. */
const PIPELINE_BYTES = 16 * MB;

/** JPEG components relative to the luma plane, by chroma subsampling (as sharp reports it). */
const JPEG_PLANES: Record<string, number> = { '4:2:0': 1.5, '4:4:4': 3, '4:2:0:4': 2.5, '4:4:4:4': 4 };

function bytesPerPixel(header: Metadata): number {
  const sampleBytes = header.depth === 'ushort' || header.depth === 'short' ? 2 : 1;
  if (header.format === 'jpeg') {
    // Progressive: every DCT coefficient (2 bytes) of every plane is kept until the last scan.
    if (!header.isProgressive) return 0.25;
    return 2 * (JPEG_PLANES[header.chromaSubsampling ?? ''] ?? header.channels) + 1;
  }
  if (header.format === 'png') {
    // Interlaced (Adam7) images are decoded whole; others row by row.
    return header.isProgressive ? header.channels * sampleBytes + 1 : 2;
  }
  // GIF and WebP frames are decoded whole as RGBA (nothing else gets past the type check).
  return 5;
}

/** The queue's view of decoding an untrusted upload with this header. */
export function uploadJob(header: Metadata): ImageJob {
  const pixels = header.width * header.height;
  return {
    light: pixels <= LIGHT_PIXELS,
    bytes: Math.ceil(pixels * bytesPerPixel(header)) + PIPELINE_BYTES,
    refusable: true,
  };
}

/**
 * Small work whose caller waits its turn rather than be refused: renders of our own masters and
 * placeholders (at most 648 × 648) and comparisons of a tenant's thumbnails (at most 2048 × 2048),
 * a few milliseconds each.
 */
export const SMALL_WORK: ImageJob = { light: true, bytes: PIPELINE_BYTES, refusable: false };
