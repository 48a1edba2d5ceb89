import { describe, expect, it } from 'vitest';
import { estonianDateTime, formatDate, timeZoneProblem } from './dates.js';

describe('dates and times in each language', () => {
  const at = Date.UTC(2026, 10, 30, 5, 43);

  it('writes Estonian times with "kell" and a full stop, and the date with full stops', () => {
    expect(estonianDateTime(at, 'UTC')).toBe('30.11.2026 kell 05.43');
    expect(formatDate('et', at, 'UTC')).toBe('30.11.2026 kell 05.43 UTC');
    expect(formatDate('et', at, 'Europe/Tallinn')).toBe('30.11.2026 kell 07.43 EET');
    // No leading zero on the day, two digits for the month, the hour in 24-hour form.
    expect(estonianDateTime(Date.UTC(2026, 0, 3, 17, 5), 'UTC')).toBe('3.01.2026 kell 17.05');
    expect(estonianDateTime(Date.UTC(2026, 0, 3, 0, 0), 'UTC')).toBe('3.01.2026 kell 00.00');
  });

  it('writes the moment in the given time zone', () => {
    // Tallinn is UTC+2 in winter, UTC+3 in summer.
    expect(estonianDateTime(at, 'Europe/Tallinn')).toBe('30.11.2026 kell 07.43');
    expect(estonianDateTime(Date.UTC(2026, 6, 31, 22, 30), 'Europe/Tallinn')).toBe('1.08.2026 kell 01.30');
  });

  it('keeps English as English writes it', () => {
    expect(formatDate('en', at, 'UTC')).toBe('30 November 2026 at 05:43 UTC');
    expect(formatDate('en', at, 'America/New_York')).toBe('30 November 2026 at 00:43 GMT-5');
  });
});

describe('timeZoneProblem', () => {
  it('names a TZ this system does not know, and nothing else', () => {
    expect(timeZoneProblem('Foo/Bar')).toContain('TZ=Foo/Bar is not a time zone this system knows');
    expect(timeZoneProblem('Europe/Tallinn')).toBeUndefined();
    expect(timeZoneProblem('America/Argentina/Buenos_Aires')).toBeUndefined();
    expect(timeZoneProblem(undefined)).toBeUndefined();
    expect(timeZoneProblem(':/etc/localtime')).toBeUndefined();
    expect(timeZoneProblem('UTC')).toBeUndefined();
  });
});
