// Magic-number sniffing. We decide what a file is from its first bytes, never from its name or
// the browser's Content-Type, and we do it before sharp sees the bytes: libvips would happily
// open SVG (librsvg, scripts, external references), PDF, TIFF, HEIF... and we want none of that
// attack surface reachable from an upload form.

export type AcceptedImageType = 'jpeg' | 'png' | 'gif' | 'webp';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;

function startsWithBytes(bytes: Buffer, expected: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + expected.length) return false;
  return expected.every((value, index) => bytes[offset + index] === value);
}

function startsWithAscii(bytes: Buffer, text: string, offset = 0): boolean {
  if (bytes.length < offset + text.length) return false;
  return bytes.toString('latin1', offset, offset + text.length) === text;
}

export function isJpeg(bytes: Buffer): boolean {
  return startsWithBytes(bytes, [0xff, 0xd8, 0xff]);
}

/** The accepted type the bytes claim to be, or null for anything we refuse to decode. */
export function sniffImageType(bytes: Buffer): AcceptedImageType | null {
  if (isJpeg(bytes)) return 'jpeg';
  if (startsWithBytes(bytes, PNG_SIGNATURE)) return 'png';
  if (startsWithAscii(bytes, 'GIF87a') || startsWithAscii(bytes, 'GIF89a')) return 'gif';
  // RIFF container: bytes 4..7 are the chunk size, the form type at 8..11 must be WEBP
  // (a RIFF header alone could just as well be WAV or AVI).
  if (startsWithAscii(bytes, 'RIFF') && startsWithAscii(bytes, 'WEBP', 8)) return 'webp';
  return null;
}
