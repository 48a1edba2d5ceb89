import { AppError } from '../errors.js';

// Graph's throttling as an app meets it: past a number of requests in a window, each further
// request is answered 429 TooManyRequests with Retry-After until the window ends. Requests inside
// a $batch count one by one and are throttled one by one, the batch itself not at all
// (https://learn.microsoft.com/graph/throttling#throttling-and-batching). Off unless
// PHOTOSYNC_GRAPH_APP_LIMIT sets it: Microsoft 365's own limits are far higher and not published
// as numbers, so this serves tests and benchmarks of clients that must survive throttling.

export interface GraphAppLimit {
  requests: number;
  seconds: number;
}

/** `"20/10s"` → 20 requests per 10 seconds; undefined with a problem for anything else. */
export function parseGraphAppLimit(text: string | undefined, problems: string[]): GraphAppLimit | undefined {
  const raw = text?.trim();
  if (!raw || raw === 'off') return undefined;
  const match = /^(\d{1,6})\/(\d{1,5})s$/.exec(raw);
  const requests = Number(match?.[1]);
  const seconds = Number(match?.[2]);
  if (!match || requests < 1 || seconds < 1) {
    problems.push(`PHOTOSYNC_GRAPH_APP_LIMIT is "<requests>/<seconds>s" such as 2000/10s, or off; got "${raw}".`);
    return undefined;
  }
  return { requests, seconds };
}

/** Counts each app's requests in fixed windows; `admit` throws the 429 once the window is full. */
export function createGraphThrottle(limit: GraphAppLimit, onThrottled: () => void, now = () => Date.now()) {
  const windows = new Map<string, { start: number; count: number }>();
  const windowMs = limit.seconds * 1000;
  return {
    admit(clientId: string): void {
      const at = now();
      let window = windows.get(clientId);
      if (!window || at - window.start >= windowMs) {
        window = { start: at, count: 0 };
        windows.set(clientId, window);
      }
      window.count += 1;
      if (window.count <= limit.requests) return;
      onThrottled();
      const retryAfterSeconds = Math.max(1, Math.ceil((window.start + windowMs - at) / 1000));
      throw new AppError(
        'rate_limited',
        'Too many requests from this application. Retry after the number of seconds in the Retry-After header.',
        { retryAfterSeconds },
      );
    },
  };
}
