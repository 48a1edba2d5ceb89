// The one place photosync talks to sharp/libvips; the rest of the app imports only from here.
//
// configureMedia: process-wide sharp settings (threads, cache, pixel limit), once at start-up.
// makeMasterPhoto: untrusted upload -> upright, metadata-free, sRGB, flattened square JPEG of at
//   most maxSide (never upscaled), or a refusal the user can read. Expected failures are returned.
// renderSquareJpegs: trusted master -> one JPEG per requested side, from a single decode.
// rasterizeSvg: our own SVG (placeholder, demo faces) -> square JPEG.
// isJpeg: cheap magic-number check, e.g. before trusting bytes read back from storage.
// pictureFingerprint / comparePictures: whether two small untrusted pictures show the same photo.
export { configureMedia, DEFAULT_MAX_INPUT_PIXELS, type MediaOptions } from './media-config.js';
export { isJpeg } from './image-type.js';
export {
  makeMasterPhoto,
  type ImageRefusal,
  type ImageRefusalReason,
  type MasterPhoto,
  type MasterPhotoOptions,
} from './master-photo.js';
export { renderSquareJpegs, type SquareJpeg } from './square-jpegs.js';
export { rasterizeSvg } from './svg-raster.js';
export {
  comparePictures,
  pictureDistance,
  pictureFingerprint,
  type FingerprintResult,
  type PictureFingerprint,
  type PictureVerdict,
} from './perceptual-hash.js';
