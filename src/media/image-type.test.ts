import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { isJpeg, sniffImageType } from './image-type.js';

const bytes = (...values: number[]) => Buffer.from(values);
const ascii = (text: string) => Buffer.from(text, 'latin1');

describe('sniffImageType', () => {
  it.each([
    ['jpeg', bytes(0xff, 0xd8, 0xff, 0xe0)],
    ['png', bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)],
    ['gif', ascii('GIF87a')],
    ['gif', ascii('GIF89a')],
    ['webp', ascii('RIFF\x10\x00\x00\x00WEBPVP8 ')],
  ] as const)('recognises %s', (type, header) => {
    expect(sniffImageType(header)).toBe(type);
  });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['JPEG SOI without a marker', bytes(0xff, 0xd8)],
    ['PNG signature with LF damaged', bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x00)],
    ['GIF with an unknown version', ascii('GIF90a')],
    ['RIFF WAVE', ascii('RIFF\x10\x00\x00\x00WAVEfmt ')],
    ['RIFF cut short', ascii('RIFF\x10\x00\x00\x00WEB')],
    ['TIFF little-endian', ascii('II*\x00')],
    ['TIFF big-endian', ascii('MM\x00*')],
    ['BMP', ascii('BM6\x00\x00\x00')],
    ['ISO-BMFF (HEIF/AVIF)', ascii('\x00\x00\x00\x1cftypavif')],
    ['PDF', ascii('%PDF-1.4')],
    ['SVG', ascii('<svg xmlns="http://www.w3.org/2000/svg"/>')],
    ['HTML', ascii('<!doctype html>')],
    ['UTF-8 BOM before SVG', ascii('\xef\xbb\xbf<svg/>')],
  ])('refuses %s', (_name, header) => {
    expect(sniffImageType(header)).toBeNull();
  });

  it.each(['jpeg', 'png', 'gif', 'webp'] as const)('agrees with what sharp writes as %s', async (format) => {
    const encoded = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#123' } })
      .toFormat(format)
      .toBuffer();
    expect(sniffImageType(encoded)).toBe(format);
  });
});

describe('isJpeg', () => {
  it('is true only for the FF D8 FF signature', async () => {
    const jpeg = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#123' } })
      .jpeg()
      .toBuffer();
    expect(isJpeg(jpeg)).toBe(true);
    expect(isJpeg(bytes(0xff, 0xd8))).toBe(false);
    expect(isJpeg(bytes(0x89, 0x50, 0x4e, 0x47))).toBe(false);
    expect(isJpeg(Buffer.alloc(0))).toBe(false);
  });
});
