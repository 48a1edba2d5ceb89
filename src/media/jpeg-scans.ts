// How many scans a JPEG holds, counted from its markers before any decode. libjpeg reads every
// scan of a progressive (or multi-scan) file into its coefficient buffer before it gives the first
// row, and libvips' deadline is checked between rows: a file of a few hundred KB made of thousands
// of legal scans (each a step of successive approximation) keeps a decoder busy for tens of
// seconds past any deadline. Encoders write 1 (baseline) to about 10 scans (libjpeg's progressive
// script), a few more with an optimised script; MAX_JPEG_SCANS leaves ample room for those.
// libjpeg-turbo's own guard against such files is the same count (djpeg -maxscans).

/** The most scans a JPEG may hold; a file with more is refused before it is decoded. */
export const MAX_JPEG_SCANS = 100;

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const TEM = 0x01;
const RST0 = 0xd0;
const RST7 = 0xd7;

/**
 * The start-of-scan markers in `jpeg`, counted up to `stopAbove + 1` (no further: the answer is
 * then only "too many"). What is not a well-formed marker sequence ends the count; the decoder
 * says what is wrong with such a file.
 */
export function countJpegScans(jpeg: Buffer, stopAbove: number = MAX_JPEG_SCANS): number {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== SOI) return 0;
  let scans = 0;
  let at = 2;
  while (at + 1 < jpeg.length) {
    if (jpeg[at] !== 0xff) return scans;
    const marker = jpeg[at + 1]!;
    // Fill bytes before a marker.
    if (marker === 0xff) {
      at += 1;
      continue;
    }
    if (marker === EOI) return scans;
    if (marker === TEM || (marker >= RST0 && marker <= RST7)) {
      at += 2;
      continue;
    }
    if (at + 3 >= jpeg.length) return scans;
    // A segment: its length counts its own two bytes, not the marker's.
    at += 2 + jpeg.readUInt16BE(at + 2);
    if (marker !== SOS) continue;
    scans += 1;
    if (scans > stopAbove) return scans;
    at = endOfEntropyCodedData(jpeg, at);
  }
  return scans;
}

/** Where the next marker starts after a scan's coded data: an 0xFF not stuffed (0xFF00) nor a restart. */
function endOfEntropyCodedData(jpeg: Buffer, from: number): number {
  let at = from;
  for (;;) {
    const ff = jpeg.indexOf(0xff, at);
    if (ff === -1 || ff + 1 >= jpeg.length) return jpeg.length;
    const next = jpeg[ff + 1]!;
    if (next === 0x00 || (next >= RST0 && next <= RST7)) {
      at = ff + 2;
      continue;
    }
    return ff;
  }
}
