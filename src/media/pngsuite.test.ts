// PngSuite: every valid PNG variant (bit depths, palettes, interlacing, gamma, odd sizes, ancillary
// chunks) must become a master; every x*.png, the suite's deliberately broken files, must not.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { makeMasterPhoto } from './media.js';
import { corpusDir } from './test-helpers.js';

const suiteDir = path.join(corpusDir, 'pngsuite');
const files = (await readdir(suiteDir)).filter((name) => name.endsWith('.png')).sort();
const valid = files.filter((name) => !name.startsWith('x'));
const broken = files.filter((name) => name.startsWith('x'));
const LIMITS = { maxSide: 648, maxBytes: 4 * 1024 * 1024 };

describe('PngSuite', () => {
  it('is present (guards against silently testing nothing)', () => {
    expect(valid.length).toBeGreaterThan(150);
    expect(broken.length).toBeGreaterThanOrEqual(14);
  });

  it.each(valid)('accepts %s', async (name) => {
    const input = await readFile(path.join(suiteDir, name));
    const result = await makeMasterPhoto(input, LIMITS);
    if (!result.ok) throw new Error(`${name} refused as ${result.reason}: ${result.detail ?? ''}`);
    const meta = await sharp(result.jpeg).metadata();
    expect(meta.format).toBe('jpeg');
    expect(meta.width).toBe(meta.height);
    expect(meta.width).toBe(result.side);
    expect(meta.channels).toBe(3);
  });

  it.each(broken)('refuses %s', async (name) => {
    const input = await readFile(path.join(suiteDir, name));
    const result = await makeMasterPhoto(input, LIMITS);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(['corrupt', 'unsupported_type']).toContain(result.reason);
    expect(result.message.length).toBeGreaterThan(10);
  });
});
