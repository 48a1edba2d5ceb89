import sharp, { type Metadata, type Sharp, type SharpOptions } from 'sharp';
import { sniffImageType } from './image-type.js';
import { JPEG_OUTPUT, WHITE } from './jpeg-output.js';
import { currentMaxInputPixels } from './media-config.js';

export type ImageRefusalReason = 'empty' | 'too_large' | 'unsupported_type' | 'corrupt' | 'too_many_pixels';

export interface ImageRefusal {
  ok: false;
  reason: ImageRefusalReason;
  /** One English sentence meant for the person who uploaded the file. */
  message: string;
  /** Technical cause (libvips text, sniffed vs. decoded type) for logs only, never for users. */
  detail?: string;
}

export interface MasterPhoto {
  ok: true;
  jpeg: Buffer;
  side: number;
}

export interface MasterPhotoOptions {
  maxSide: number;
  maxBytes: number;
}

const NOT_AN_ACCEPTED_IMAGE = 'The file is not a JPEG, PNG, GIF or WebP image.';
const CANNOT_READ = 'The image could not be read; the file may be damaged or incomplete.';

// failOn 'warning' makes libvips refuse truncated or half-broken files instead of silently
// padding them with grey; pages 1 reads only the first frame of an animated GIF or WebP.
const UNTRUSTED_DECODE: SharpOptions = { failOn: 'warning', pages: 1, animated: false };

function refuse(reason: ImageRefusalReason, message: string, detail?: string): ImageRefusal {
  return detail === undefined ? { ok: false, reason, message } : { ok: false, reason, message, detail };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
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

function tooManyPixels(width: number, height: number, limit: number, detail?: string): ImageRefusal {
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

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
}

async function readHeader(input: Buffer): Promise<Metadata | ImageRefusal> {
  // The pixel limit is enforced by us right after this, from the header alone; sharp would
  // otherwise throw a generic error from metadata() that we would have to recognise by its text.
  const header = sharp(input, { ...UNTRUSTED_DECODE, limitInputPixels: false });
  try {
    return await header.metadata();
  } catch (error) {
    return refuse('corrupt', CANNOT_READ, errorText(error));
  }
}

function masterPipeline(input: Buffer, header: Metadata, side: number, pixelLimit: number): Sharp {
  let pipeline = sharp(input, { ...UNTRUSTED_DECODE, limitInputPixels: pixelLimit }).autoOrient();
  if (header.space === 'rgb16' && header.hasProfile) {
    // sharp converts 16-bit RGB with an embedded profile into Display P3 (not sRGB) and later
    // relabels those numbers as sRGB, visibly shifting colours. Dropping to 8-bit sRGB first
    // makes the profile conversion target sRGB like it does for every other input.
    pipeline = pipeline.pipelineColourspace('srgb');
  }
  // Deliberately no withMetadata()/keepExif()/keepIccProfile(): sharp then writes no EXIF (GPS,
  // camera serials), ICC or XMP, none of which belongs in a photo the whole company sees.
  return pipeline
    .flatten({ background: WHITE })
    .resize(side, side, { fit: 'cover', position: sharp.strategy.attention })
    .toColourspace('srgb')
    .jpeg(JPEG_OUTPUT);
}

/**
 * Turns an untrusted upload into the canonical master: an upright, flattened, 8-bit sRGB square
 * JPEG without metadata, at most maxSide on a side and never upscaled. Refusals are returned.
 */
export async function makeMasterPhoto(input: Buffer, options: MasterPhotoOptions): Promise<MasterPhoto | ImageRefusal> {
  requirePositiveInteger('maxSide', options.maxSide);
  requirePositiveInteger('maxBytes', options.maxBytes);

  // Cheap checks first: nothing below this point may run on oversized or unrecognised input.
  if (input.length === 0) return refuse('empty', 'The file is empty.');
  if (input.length > options.maxBytes) {
    let size = formatBytes(input.length);
    const limit = formatBytes(options.maxBytes);
    // Just over the limit rounds to the limit itself ("4 MB, but at most 4 MB"): say it exactly.
    if (size === limit) size = `${input.length.toLocaleString('en-US')} bytes`;
    return refuse('too_large', `The file is ${size}, but photos can be at most ${limit}.`);
  }
  const sniffedType = sniffImageType(input);
  if (sniffedType === null) return refuse('unsupported_type', NOT_AN_ACCEPTED_IMAGE);

  const header = await readHeader(input);
  if ('ok' in header) return header;
  if (header.format !== sniffedType) {
    return refuse(
      'unsupported_type',
      NOT_AN_ACCEPTED_IMAGE,
      `signature says ${sniffedType}, decoder says ${header.format}`,
    );
  }
  const pixelLimit = currentMaxInputPixels();
  if (header.width * header.height > pixelLimit) {
    return tooManyPixels(header.width, header.height, pixelLimit);
  }

  const upright = header.autoOrient;
  const side = Math.min(options.maxSide, upright.width, upright.height);
  const pipeline = masterPipeline(input, header, side, pixelLimit);
  try {
    const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
    return { ok: true, jpeg: data, side: info.width };
  } catch (error) {
    const detail = errorText(error);
    // Backstop for a decoder that sees more pixels than the header we checked promised.
    if (detail.includes('exceeds pixel limit')) {
      return tooManyPixels(header.width, header.height, pixelLimit, detail);
    }
    return refuse('corrupt', CANNOT_READ, detail);
  }
}
