// How many scans a JPEG holds, counted before any decode. libjpeg reads every scan of a
// progressive (or multi-scan) file into its coefficient buffer before it gives the first row, and
// libvips' deadline is checked between rows: a file of a few hundred KB made of thousands of legal
// scans (each a step of successive approximation) keeps a decoder busy for tens of seconds past any
// deadline. Encoders write 1 (baseline) to about 10 scans (libjpeg's progressive script), a few
// more with an optimised script; MAX_JPEG_SCANS leaves ample room for those. libjpeg-turbo's own
// guard against such files is the same count (djpeg -maxscans).
//
// The count is of every start-of-scan marker (0xFF, any fill bytes 0xFF, 0xDA) anywhere after the
// start of the image, not a walk of the segments: libjpeg takes files a walk would lose its way in
// (a segment length under 2, bytes between markers, 0xFF 0xFF 0x00 in coded data) and decodes on,
// so a walk could be led to count fewer scans than libjpeg reads. Coded data never holds 0xFF 0xDA
// (an 0xFF there is stuffed with 0x00), so every scan libjpeg reads is counted; the bytes of a
// metadata segment may add a false one now and then (about one in 64 KB of random bytes), which only
// errs towards refusing, far below the limit for a photo of at most a few MB.

/** The most scans a JPEG may hold; a file with more is refused before it is decoded. */
export const MAX_JPEG_SCANS = 100;

const SOI = 0xd8;
const SOS = 0xda;

/**
 * The start-of-scan markers in `jpeg` after its start-of-image (0 for what does not start as a
 * JPEG), counted up to `stopAbove + 1` (no further: the answer is then only "too many").
 */
export function countJpegScans(jpeg: Buffer, stopAbove: number = MAX_JPEG_SCANS): number {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== SOI) return 0;
  let scans = 0;
  for (let at = jpeg.indexOf(SOS, 2); at !== -1; at = jpeg.indexOf(SOS, at + 1)) {
    if (jpeg[at - 1] !== 0xff) continue;
    scans += 1;
    if (scans > stopAbove) break;
  }
  return scans;
}
