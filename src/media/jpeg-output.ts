import type { JpegOptions } from 'sharp';

// One encoder setting for everything we produce, so a master and its renditions look alike.
// mozjpeg would save ~10 % bytes but costs several times the CPU on every sync; 4:2:0 halves
// colour resolution, which no one notices in a face photo. Baseline (non-progressive) JPEG is
// what every mail client and the Microsoft Graph photo endpoint handle without surprises.
export const JPEG_OUTPUT: JpegOptions = {
  quality: 85,
  mozjpeg: false,
  chromaSubsampling: '4:2:0',
  progressive: false,
};

// JPEG has no alpha; transparent areas become white rather than libvips' default black, which
// is what a transparent logo-style portrait looks like on a white mail or web page anyway.
export const WHITE = { r: 255, g: 255, b: 255 } as const;
