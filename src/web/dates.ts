import type { Locale } from './i18n.js';

// How each language writes a moment. Estonian writes the date with full stops and the time with
// "kell" and a full stop between hours and minutes ("30.11.2026 kell 05.43"), never the English
// "30 November 2026 at 05:43" or a colon; the numeric date reads right in any sentence, whatever
// case the words around it need ("Muudetud …", "Pilt on lisatud …").

const ESTONIAN_PARTS = {
  day: 'numeric',
  month: '2-digit',
  year: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
} as const;

/** "30.11.2026 kell 05.43" in `timeZone` (the server's own when not given). */
export function estonianDateTime(epochMs: number, timeZone?: string): string {
  const parts = new Intl.DateTimeFormat('et-EE', { ...ESTONIAN_PARTS, timeZone }).formatToParts(new Date(epochMs));
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('day')}.${part('month')}.${part('year')} kell ${part('hour')}.${part('minute')}`;
}

/** The zone's short name as pages write it after a time: "UTC", "EET", "GMT-5". */
export function zoneName(epochMs: number, timeZone?: string): string {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, timeZoneName: 'short' }).formatToParts(new Date(epochMs));
  return parts.find((p) => p.type === 'timeZoneName')?.value ?? 'UTC';
}

/**
 * A date and time for people, in the page's language and the server's time zone, which it names
 * ("30 November 2026 at 05:43 UTC"): a reader elsewhere would otherwise take it for their own.
 */
export function formatDate(locale: Locale, epochMs: number, timeZone?: string): string {
  const zone = zoneName(epochMs, timeZone);
  if (locale === 'et') return `${estonianDateTime(epochMs, timeZone)} ${zone}`;
  const local = new Intl.DateTimeFormat('en-GB', { dateStyle: 'long', timeStyle: 'short', timeZone }).format(
    new Date(epochMs),
  );
  return `${local} ${zone}`;
}

/**
 * What is wrong with the TZ the process was given, in a sentence for the log: a name this system
 * does not know makes every time UTC without a word. Undefined for no TZ, a known zone, or a
 * form other than a zone's name (`:/etc/localtime`, `EET-2EEST`), which the C library reads itself.
 */
export function timeZoneProblem(tz: string | undefined): string | undefined {
  if (tz === undefined || tz === '' || !/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)+$/.test(tz)) return undefined;
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: tz });
    return undefined;
  } catch {
    return `TZ=${tz} is not a time zone this system knows, so pages show times in UTC; use a name such as Europe/Tallinn (timedatectl list-timezones lists them).`;
  }
}
