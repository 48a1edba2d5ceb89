// When to try a throttled or failed request again. Microsoft Graph and SharePoint Online answer
// 429 (and 503) with Retry-After in seconds; waiting exactly that long is the fastest way back,
// since requests made meanwhile still count against the limit. Without Retry-After, back off
// exponentially.

/** Statuses that mean "not now": throttled, or the service asks for patience. */
export const RETRY_LATER = new Set([429, 503]);
/** Statuses worth a few more tries after a back-off: transient server and gateway errors. */
export const TRANSIENT = new Set([500, 502, 504]);

/** Longest wait photosync accepts from one Retry-After (a larger value is taken as this). */
export const MAX_RETRY_AFTER_MS = 15 * 60_000;

/**
 * Retry-After as milliseconds from `now`: delta-seconds ("120") or an HTTP-date
 * ("Wed, 21 Oct 2026 07:28:00 GMT"). Undefined when absent or unreadable.
 */
export function retryAfterMs(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  const at = Date.parse(text);
  if (Number.isNaN(at) || !/[a-z]/i.test(text)) return undefined;
  return Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}

/**
 * Tries of a request that did not reach the tenant at all (refused, reset, timed out), 1 s and 2 s
 * apart: a host that is down stays down longer than a person waits at a tile or a console page.
 */
export const NETWORK_ATTEMPTS = 3;

/**
 * How long a scan keeps trying a batched request that Graph throttles, from its first try. A
 * throttled tenant is busy, not broken: waiting as it asks gets every answer in the end, so the
 * bound is one of minutes rather than a few tries, which a tight limit uses up in seconds.
 */
export const THROTTLED_RETRY_MS = 10 * 60_000;

/** Exponential back-off for the nth retry (1-based) when the server named no time: 1 s, 2 s, 4 s… 60 s. */
export function backoffMs(retry: number): number {
  return Math.min(1000 * 2 ** Math.max(0, retry - 1), 60_000);
}

/** A header's value from a plain object whose names may be in any case (Graph's batch sub-responses). */
export function headerValue(headers: Record<string, unknown> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted && typeof value === 'string') return value;
  }
  return undefined;
}
