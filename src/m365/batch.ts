import type { Clock } from './clock.js';
import { backoffMs, headerValue, NETWORK_ATTEMPTS, RETRY_LATER, retryAfterMs, TRANSIENT } from './retry.js';

// Microsoft Graph JSON batching, scheduled: up to 20 requests per POST /$batch, a few batches in
// flight at once, and every sub-response handled on its own. Graph evaluates each request in a
// batch against its throttling limits separately, so one batch can come back with some answers
// and some 429s: only the throttled ones are sent again, in a later batch, once their own
// Retry-After has passed. https://learn.microsoft.com/graph/throttling#throttling-and-batching
//
// Any 429 or 503, for the whole batch or for one request in it, pauses every batch until its
// Retry-After has passed: the app as a whole is over its limit, and the other batches in flight
// would only be throttled too, each answer counting against the limit again. So a throttled run
// slows to the rate the tenant allows. A request Graph keeps throttling is tried again for as long
// as `throttledForMs` allows from its first try, however many tries that takes; only failures
// (a 5xx, an answer left out, no answer at all) are counted against `maxAttempts`.

/** The shortest wait after throttling, whatever Retry-After says. */
const MIN_THROTTLE_WAIT_MS = 1000;

/** Graph's limit: "JSON batch requests are currently limited to 20 individual requests." */
export const MAX_BATCH_SIZE = 20;

export interface BatchRequest {
  id: string;
  method: 'GET';
  /** Relative to the version root, e.g. `/users/{id}/photo`. */
  url: string;
  headers?: Record<string, string>;
}

export interface BatchResponse {
  id: string;
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** What one POST /$batch came back with, as the sender read it. */
export type BatchEnvelope =
  | { kind: 'answered'; responses: BatchResponse[] }
  /** Throttled, unavailable, a gateway error or no answer at all: the whole batch may be tried again. */
  | { kind: 'retry'; status: number; retryAfterMs?: number; message: string }
  /** Refused as a whole (400, 401, 403): trying again cannot help. */
  | { kind: 'refused'; status: number; message: string };

export type SendBatch = (requests: BatchRequest[]) => Promise<BatchEnvelope>;

/** Each request's end: Graph's answer (whatever its status), or why none came. */
export type BatchResult = { kind: 'answered'; response: BatchResponse } | { kind: 'failed'; message: string };

export interface BatchOptions {
  clock: Clock;
  /** Batches in flight at once. */
  concurrency: number;
  /** Tries per request that failed (a 5xx, an answer left out, no answer) before its last failure is final. */
  maxAttempts: number;
  /**
   * How long after its first try a request Graph throttles (429, 503) is still tried again; the
   * answer that comes later is final.
   */
  throttledForMs: number;
  /** Told about every wait for throttling, e.g. to show it beside a progress bar. */
  onThrottled?: (waitMs: number) => void;
}

export interface BatchRun {
  results: Map<string, BatchResult>;
  /** POST /$batch requests made, retries included. */
  batchesSent: number;
}

interface Pending {
  request: BatchRequest;
  /** Times sent, throttled tries included (for the back-off). */
  attempts: number;
  /** Tries that failed other than by throttling. */
  failures: number;
  firstSentAt: number | undefined;
  notBefore: number;
}

export async function runBatched(
  requests: readonly BatchRequest[],
  send: SendBatch,
  options: BatchOptions,
): Promise<BatchRun> {
  const { clock } = options;
  const pending: Pending[] = requests.map((request) => ({
    request,
    attempts: 0,
    failures: 0,
    firstSentAt: undefined,
    notBefore: 0,
  }));
  const results = new Map<string, BatchResult>();
  let pauseUntil = 0;
  let batchesSent = 0;

  /** Sends a failed request again at `at`, unless it has failed `maxFailures` times. */
  const afterFailure = (item: Pending, at: number, finalResult: BatchResult, maxFailures = options.maxAttempts) => {
    item.failures += 1;
    if (item.failures >= maxFailures) results.set(item.request.id, finalResult);
    else pending.push({ ...item, notBefore: at });
  };
  /** Sends a throttled request again at `at`, unless it has been tried for `throttledForMs` already. */
  const afterThrottled = (item: Pending, answeredAt: number, at: number, finalResult: BatchResult) => {
    if (answeredAt - (item.firstSentAt ?? answeredAt) >= options.throttledForMs)
      results.set(item.request.id, finalResult);
    else pending.push({ ...item, notBefore: at });
  };
  /** Holds every batch back until `wait` after `now`, as Graph asked. */
  const pause = (now: number, wait: number) => {
    pauseUntil = Math.max(pauseUntil, now + wait);
    options.onThrottled?.(wait);
  };

  const worker = async () => {
    while (pending.length > 0) {
      const now = clock.now();
      const earliest = Math.max(pauseUntil, Math.min(...pending.map((p) => p.notBefore)));
      if (earliest > now) {
        await clock.sleep(earliest - now);
        continue;
      }
      const ready = takeReady(pending, now);
      for (const item of ready) {
        item.attempts += 1;
        item.firstSentAt ??= now;
      }
      batchesSent += 1;
      let envelope: BatchEnvelope;
      try {
        envelope = await send(ready.map((item) => item.request));
      } catch (error) {
        envelope = { kind: 'retry', status: 0, message: error instanceof Error ? error.message : String(error) };
      }
      const after = clock.now();
      switch (envelope.kind) {
        case 'refused':
          for (const item of ready) results.set(item.request.id, { kind: 'failed', message: envelope.message });
          break;
        case 'retry': {
          const attempts = Math.max(...ready.map((item) => item.attempts));
          // At least a second: a Retry-After of 0 would send again at once, for as long as throttling is waited out.
          const wait = Math.max(MIN_THROTTLE_WAIT_MS, envelope.retryAfterMs ?? backoffMs(attempts));
          const failed: BatchResult = { kind: 'failed', message: envelope.message };
          if (RETRY_LATER.has(envelope.status)) {
            pause(after, wait);
            for (const item of ready) afterThrottled(item, after, after + wait, failed);
            break;
          }
          // Graph not reached at all (refused, reset, timed out): a host that is down stays down for
          // longer than a person waits at a tile, so such a batch is tried NETWORK_ATTEMPTS times.
          const tries = envelope.status === 0 ? Math.min(NETWORK_ATTEMPTS, options.maxAttempts) : options.maxAttempts;
          for (const item of ready) afterFailure(item, after + wait, failed, tries);
          break;
        }
        case 'answered': {
          const byId = new Map(envelope.responses.map((response) => [response.id, response]));
          let longestThrottle: number | undefined;
          for (const item of ready) {
            const response = byId.get(item.request.id);
            if (!response) {
              afterFailure(item, after + backoffMs(item.attempts), {
                kind: 'failed',
                message: 'Graph answered the batch without an answer for this request.',
              });
            } else if (RETRY_LATER.has(response.status)) {
              const named = retryAfterMs(headerValue(response.headers, 'Retry-After'), after);
              const wait = Math.max(MIN_THROTTLE_WAIT_MS, named ?? backoffMs(item.attempts));
              longestThrottle = Math.max(longestThrottle ?? 0, wait);
              afterThrottled(item, after, after + wait, { kind: 'answered', response });
            } else if (TRANSIENT.has(response.status)) {
              const named = retryAfterMs(headerValue(response.headers, 'Retry-After'), after);
              afterFailure(item, after + (named ?? backoffMs(item.attempts)), { kind: 'answered', response });
            } else {
              results.set(item.request.id, { kind: 'answered', response });
            }
          }
          if (longestThrottle !== undefined) pause(after, longestThrottle);
          break;
        }
      }
    }
  };

  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  return { results, batchesSent };
}

/** Removes and returns up to one batch of the requests that may go now, earliest first. */
function takeReady(pending: Pending[], now: number): Pending[] {
  const ready: Pending[] = [];
  for (let i = 0; i < pending.length && ready.length < MAX_BATCH_SIZE;) {
    if (pending[i]!.notBefore <= now) ready.push(...pending.splice(i, 1));
    else i += 1;
  }
  return ready;
}
