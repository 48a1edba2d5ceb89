import { describe, expect, it } from 'vitest';
import { backoffMs, headerValue, MAX_RETRY_AFTER_MS, retryAfterMs } from './retry.js';

describe('retryAfterMs', () => {
  const now = Date.parse('2026-11-30T07:00:00Z');

  it.each([
    ['10', 10_000],
    [' 0 ', 0],
    ['Mon, 30 Nov 2026 07:00:30 GMT', 30_000],
    ['Mon, 30 Nov 2026 06:59:00 GMT', 0],
    ['86400', MAX_RETRY_AFTER_MS],
    ['-5', undefined],
    ['1.5', undefined],
    ['soon', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('%j → %j', (value, expected) => {
    expect(retryAfterMs(value, now)).toBe(expected);
  });
});

describe('backoffMs', () => {
  it('doubles from a second up to a minute', () => {
    expect([1, 2, 3, 4, 7, 8, 20].map(backoffMs)).toEqual([1000, 2000, 4000, 8000, 60_000, 60_000, 60_000]);
  });
});

describe('headerValue', () => {
  it('finds a header whatever its case', () => {
    expect(headerValue({ 'retry-after': '3' }, 'Retry-After')).toBe('3');
    expect(headerValue({ 'Retry-After': '4' }, 'retry-after')).toBe('4');
    expect(headerValue({}, 'Retry-After')).toBeUndefined();
    expect(headerValue(undefined, 'Retry-After')).toBeUndefined();
  });
});
