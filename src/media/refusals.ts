import type { Metadata } from 'sharp';

// Why an upload was refused, with one sentence for the person who sent it.

export type ImageRefusalReason =
  | 'empty'
  | 'too_large'
  | 'unsupported_type'
  | 'corrupt'
  | 'too_many_pixels'
  | 'side_too_long'
  | 'aspect_too_extreme'
  | 'too_many_scans'
  | 'too_slow'
  | 'busy';

export interface ImageRefusal {
  ok: false;
  reason: ImageRefusalReason;
  /** One English sentence meant for the person who uploaded the file. */
  message: string;
  /** Technical cause (libvips text, sniffed vs. decoded type) for logs only, never for users. */
  detail?: string;
  /** For 'busy': when trying again is likely to work. */
  retryAfterSeconds?: number;
  /** For 'unsupported_type': the file is an SVG drawing, which a page names as such. */
  svg?: true;
}

/** No profile photo is wider or taller than this; a longer side is a strip or a bomb, not a portrait. */
export const MAX_SIDE_PX = 16_384;
/** Nor is one side more than this many times the other. */
export const MAX_ASPECT_RATIO = 8;

export function refuse(reason: ImageRefusalReason, message: string, detail?: string): ImageRefusal {
  return detail === undefined ? { ok: false, reason, message } : { ok: false, reason, message, detail };
}

function formatBytes(bytes: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB'] as const;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const rounded = unit === 0 ? String(value) : value.toFixed(1).replace(/\.0$/, '');
  return `${rounded} ${units[unit]}`;
}

export function tooLarge(bytes: number, maxBytes: number): ImageRefusal {
  let size = formatBytes(bytes);
  const limit = formatBytes(maxBytes);
  // Just over the limit rounds to the limit itself ("4 MB, but at most 4 MB"): say it exactly.
  if (size === limit) size = `${bytes.toLocaleString('en-US')} bytes`;
  return refuse('too_large', `The file is ${size}, but photos can be at most ${limit}.`);
}

export function tooManyPixels(width: number, height: number, limit: number, detail?: string): ImageRefusal {
  const allowed =
    limit >= 1_000_000
      ? `${Number((limit / 1_000_000).toFixed(1))} megapixels`
      : `${limit.toLocaleString('en-US')} pixels`;
  return refuse(
    'too_many_pixels',
    `The image is ${width} × ${height} pixels, but photos can have at most ${allowed}.`,
    detail,
  );
}

/**
 * The size and shape rules, from the header alone: pixel count, longest side, aspect ratio.
 * A 1 × 25,000,000 PNG has half the pixels of a 50-megapixel photo but decodes for many seconds
 * (libvips works row by row); no portrait looks like it, so it is refused before any decode.
 */
export function checkDimensions(header: Metadata, pixelLimit: number): ImageRefusal | undefined {
  const { width, height } = header;
  if (width * height > pixelLimit) return tooManyPixels(width, height, pixelLimit);
  const size = `The image is ${width} × ${height} pixels`;
  if (Math.max(width, height) > MAX_SIDE_PX) {
    return refuse(
      'side_too_long',
      `${size}, but photos can be at most ${MAX_SIDE_PX.toLocaleString('en-US')} pixels wide or tall.`,
    );
  }
  if (Math.max(width, height) > MAX_ASPECT_RATIO * Math.min(width, height)) {
    return refuse(
      'aspect_too_extreme',
      `${size}, but a photo's long side can be at most ${MAX_ASPECT_RATIO} times its short side.`,
    );
  }
  return undefined;
}

/** A JPEG of more scans than any encoder writes for a photo: decoding it takes its time per scan. */
export function tooManyScans(maxScans: number, detail: string): ImageRefusal {
  return refuse(
    'too_many_scans',
    `The image is a JPEG saved in more than ${maxScans} passes (progressive scans), far more than a photo needs; save it again as an ordinary JPEG and try again.`,
    detail,
  );
}

export function tooSlow(seconds: number, detail: string): ImageRefusal {
  return refuse(
    'too_slow',
    `The image took longer than ${seconds} seconds to process; save it as a smaller JPEG or PNG and try again.`,
    detail,
  );
}

export function busy(retryAfterSeconds: number): ImageRefusal {
  const when = retryAfterSeconds === 1 ? 'a second' : `${retryAfterSeconds} seconds`;
  return {
    ...refuse('busy', `The server is busy with other pictures right now; try again in ${when}.`),
    retryAfterSeconds,
  };
}
