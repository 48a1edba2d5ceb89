import sharp, { type Metadata, type Sharp, type SharpOptions } from 'sharp';
import { uploadJob } from './decode-cost.js';
import { sniffImageType } from './image-type.js';
import { ImageDeadlineError, ImageQueueFullError, libvipsTimeout } from './image-queue.js';
import { JPEG_OUTPUT, WHITE } from './jpeg-output.js';
import { currentMaxInputPixels, imageQueue, reportMediaEvent } from './media-config.js';
import { encodeSquares, type SquareJpeg } from './square-jpegs.js';
import { countJpegScans, MAX_JPEG_SCANS } from './jpeg-scans.js';
import {
  busy,
  checkDimensions,
  refuse,
  tooLarge,
  tooManyPixels,
  tooManyScans,
  tooSlow,
  type ImageRefusal,
} from './refusals.js';

export type { ImageRefusal, ImageRefusalReason } from './refusals.js';

export interface MasterPhoto {
  ok: true;
  jpeg: Buffer;
  side: number;
}

export interface MasterPhotoOptions {
  maxSide: number;
  maxBytes: number;
}

export interface SquareJpegsFromUpload {
  ok: true;
  /** In the order the sides were asked for. */
  renditions: SquareJpeg[];
}

const NOT_AN_ACCEPTED_IMAGE = 'The file is not a JPEG, PNG, GIF or WebP image.';
const AN_SVG = 'The file is an SVG drawing, which cannot be used; send a JPEG, PNG, GIF or WebP image.';

/** Whether text starts as an SVG drawing does (an XML prolog, comments or a BOM may come first). */
function looksLikeSvg(input: Buffer): boolean {
  const start = input
    .subarray(0, 1024)
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .trimStart();
  return start.startsWith('<') && /<svg[\s>/]/i.test(start);
}
const CANNOT_READ = 'The image could not be read; the file may be damaged or incomplete.';

// failOn 'warning' makes libvips refuse truncated or half-broken files instead of silently
// padding them with grey; pages 1 reads only the first frame of an animated GIF or WebP.
// sequentialRead (sharp's default, said here because memory depends on it) lets libvips stream
// rows top to bottom instead of keeping the whole decoded image for random access.
const UNTRUSTED_DECODE: SharpOptions = { failOn: 'warning', pages: 1, animated: false, sequentialRead: true };

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
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

/**
 * The upright, flattened sRGB square of `side`, cropped from the middle: the square the profile
 * photo page previews before the upload (an object-fit: cover image), so what is kept is what was shown.
 */
function squarePipeline(input: Buffer, header: Metadata, side: number, pixelLimit: number, seconds: number): Sharp {
  let pipeline = sharp(input, { ...UNTRUSTED_DECODE, limitInputPixels: pixelLimit }).autoOrient();
  if (header.space === 'rgb16' && header.hasProfile) {
    // sharp converts 16-bit RGB with an embedded profile into Display P3 (not sRGB) and later
    // relabels those numbers as sRGB, visibly shifting colours. Dropping to 8-bit sRGB first
    // makes the profile conversion target sRGB like it does for every other input.
    pipeline = pipeline.pipelineColourspace('srgb');
  }
  // Deliberately no withMetadata()/keepExif()/keepIccProfile(): sharp then writes no EXIF (GPS,
  // camera serials), ICC or XMP, none of which belongs in a photo the whole company sees.
  return (
    pipeline
      .flatten({ background: WHITE })
      .resize(side, side, { fit: 'cover', position: 'centre' })
      .toColourspace('srgb')
      // libvips stops at its next progress check past this; the queue answers the caller on time
      // even when that check comes late (one huge output tile).
      .timeout(libvipsTimeout(seconds))
  );
}

/** What is made of the decoded square: the master JPEG, or JPEGs of several sides. */
type Product<T> = (square: Sharp, side: number) => Promise<T>;

const masterJpeg: Product<MasterPhoto> = async (square) => {
  const { data, info } = await square.jpeg(JPEG_OUTPUT).toBuffer({ resolveWithObject: true });
  return { ok: true, jpeg: data, side: info.width };
};

function squareJpegs(sides: readonly number[]): Product<SquareJpegsFromUpload> {
  return async (square, side) => {
    const { data, info } = await square.raw().toBuffer({ resolveWithObject: true });
    return { ok: true, renditions: await encodeSquares({ pixels: data, side, channels: info.channels }, sides) };
  };
}

/** The decode itself and what is made of it, one job of the image queue; its failures become refusals. */
async function decode<T>(input: Buffer, header: Metadata, side: number, make: Product<T>): Promise<T | ImageRefusal> {
  const pixelLimit = currentMaxInputPixels();
  const queue = imageQueue();
  const seconds = queue.limits().deadlineSeconds;
  try {
    return await queue.run(uploadJob(header), () => {
      reportMediaEvent({ type: 'decoded', source: 'upload' });
      return make(squarePipeline(input, header, side, pixelLimit, seconds), side);
    });
  } catch (error) {
    if (error instanceof ImageQueueFullError) return busy(error.retryAfterSeconds);
    const detail = errorText(error);
    if (error instanceof ImageDeadlineError || detail.startsWith('timeout:')) return tooSlow(seconds, detail);
    // Backstop for a decoder that sees more pixels than the header we checked promised.
    if (detail.includes('exceeds pixel limit')) {
      return tooManyPixels(header.width, header.height, pixelLimit, detail);
    }
    return refuse('corrupt', CANNOT_READ, detail);
  }
}

async function checkAndDecode<T>(
  input: Buffer,
  options: MasterPhotoOptions,
  make: Product<T>,
): Promise<T | ImageRefusal> {
  // Cheap checks first: nothing below this point may run on oversized or unrecognised input.
  if (input.length === 0) return refuse('empty', 'The file is empty.');
  if (input.length > options.maxBytes) return tooLarge(input.length, options.maxBytes);
  const sniffedType = sniffImageType(input);
  if (sniffedType === null) {
    if (looksLikeSvg(input)) return { ok: false, reason: 'unsupported_type', message: AN_SVG, svg: true };
    return refuse('unsupported_type', NOT_AN_ACCEPTED_IMAGE);
  }

  // libjpeg reads every scan before the first row, past the deadline's reach: counted first.
  if (sniffedType === 'jpeg' && countJpegScans(input) > MAX_JPEG_SCANS) {
    return tooManyScans(MAX_JPEG_SCANS, `more than ${MAX_JPEG_SCANS} scans`);
  }
  const header = await readHeader(input);
  if ('ok' in header) return header;
  if (header.format !== sniffedType) {
    return refuse(
      'unsupported_type',
      NOT_AN_ACCEPTED_IMAGE,
      `signature says ${sniffedType}, decoder says ${header.format}`,
    );
  }
  const refusal = checkDimensions(header, currentMaxInputPixels());
  if (refusal) return refusal;

  const upright = header.autoOrient;
  return decode(input, header, Math.min(options.maxSide, upright.width, upright.height), make);
}

/**
 * Turns an untrusted upload into the canonical master: an upright, flattened, 8-bit sRGB square
 * JPEG without metadata, at most maxSide on a side and never upscaled. Refusals are returned.
 */
export async function makeMasterPhoto(input: Buffer, options: MasterPhotoOptions): Promise<MasterPhoto | ImageRefusal> {
  requirePositiveInteger('maxSide', options.maxSide);
  requirePositiveInteger('maxBytes', options.maxBytes);
  const result = await checkAndDecode(input, options, masterJpeg);
  if (!result.ok) reportMediaEvent({ type: 'refused', reason: result.reason });
  return result;
}

/**
 * Square JPEGs of an untrusted picture (another service's photo), with the checks and refusals of
 * makeMasterPhoto, from one decode: the picture is decoded straight to the largest side asked
 * for (or its own short side, never upscaled) and every side is encoded from those pixels, as
 * renderSquareJpegs does with a master. For when no master is kept: making one first would decode
 * twice and encode once more for nothing.
 */
export async function squareJpegsFromUpload(
  input: Buffer,
  options: { sides: readonly number[]; maxBytes: number },
): Promise<SquareJpegsFromUpload | ImageRefusal> {
  for (const side of options.sides) requirePositiveInteger('side', side);
  requirePositiveInteger('maxBytes', options.maxBytes);
  const largest = Math.max(...options.sides);
  if (!Number.isFinite(largest)) throw new RangeError('at least one side must be asked for');
  const result = await checkAndDecode(
    input,
    { maxSide: largest, maxBytes: options.maxBytes },
    squareJpegs(options.sides),
  );
  if (!result.ok) reportMediaEvent({ type: 'refused', reason: result.reason });
  return result;
}
