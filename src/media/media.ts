// The one place photosync talks to sharp/libvips; the rest of the app imports only from here.
//
// configureMedia: process-wide sharp settings (threads, cache, pixel limit) and the image queue's
//   limits, once at start-up.
// makeMasterPhoto: untrusted upload -> upright, metadata-free, sRGB, flattened square JPEG of at
//   most maxSide (never upscaled), or a refusal the user can read. Expected failures are returned.
// renderSquareJpegs: trusted master -> one JPEG per requested side, from a single decode.
// squareJpegsFromUpload: untrusted picture -> the same, with makeMasterPhoto's checks, when no
//   master is kept (connect mode's push of an Exchange photo).
// rasterizeSvg: our own SVG (placeholder, demo faces) -> square JPEG.
// isJpeg: cheap magic-number check, e.g. before trusting bytes read back from storage.
// squareSide: the side of a square JPEG photosync made, from its header.
// Every decode and encode runs through one queue per process (image-queue.ts): a few at once, so
// libuv's thread pool always has threads for sign-in and file reads, each with a deadline.
// pictureFingerprint / comparePictures: whether two small untrusted pictures show the same photo.
export {
  configureMedia,
  DEFAULT_MAX_INPUT_PIXELS,
  imageQueue,
  watchMedia,
  type MediaEvent,
  type MediaOptions,
} from './media-config.js';
export { DEFAULT_QUEUE_LIMITS, type ImageQueueLimits, type ImageQueueLoad } from './image-queue.js';
export { isJpeg, sniffImageType } from './image-type.js';
export {
  makeMasterPhoto,
  squareJpegsFromUpload,
  type MasterPhoto,
  type MasterPhotoOptions,
  type SquareJpegsFromUpload,
} from './master-photo.js';
export { MAX_ASPECT_RATIO, MAX_SIDE_PX, type ImageRefusal, type ImageRefusalReason } from './refusals.js';
export { renderSquareJpegs, type SquareJpeg } from './square-jpegs.js';
export { squareSide } from './square-side.js';
export { rasterizeSvg } from './svg-raster.js';
export {
  comparePictures,
  pictureDistance,
  pictureFingerprint,
  type FingerprintResult,
  type PictureFingerprint,
  type PictureVerdict,
} from './perceptual-hash.js';
