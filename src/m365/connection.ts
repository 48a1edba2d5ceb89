import type { Logger } from 'pino';
import { systemClock, type Clock } from './clock.js';
import type { M365Settings } from './settings.js';
import { createTenantHttp, type TenantHttp } from './tenant-http.js';
import { createTokenSource, type TenantResource, type TokenSource } from './tokens.js';

// Everything connect mode needs to talk to one tenant, built once from the settings (the CLI
// builds it per command; the server will build it once in its services).

export interface M365Connection {
  settings: M365Settings;
  tokens: TokenSource;
  http: TenantHttp;
  clock: Clock;
  log: Logger;
  /** Requests sent so far, per audience (retries included). */
  requests: Record<TenantResource, number>;
  /** Throttling waits so far, and their total. */
  throttled: Throttled;
}

/**
 * The tenant's throttling as photosync met it: how many waits, and how long photosync was kept
 * waiting (`totalMs`). Waits asked of requests running at once overlap: 7 of 20 s each over the
 * same minute are a minute, not 140 s, so only the time no wait had covered yet is added.
 */
export interface Throttled {
  count: number;
  totalMs: number;
  /** When the last wait so far ends. */
  until: number;
  /** Told of a wait that keeps photosync waiting 5 s or more longer (a command says so). */
  onLongWait?: ((ms: number) => void) | undefined;
}

/** Notes a wait of `ms` starting now (see Throttled). */
export function noteThrottle(throttled: Throttled, ms: number, now: number): void {
  throttled.count += 1;
  const end = now + ms;
  if (end > throttled.until) {
    const longer = end - Math.max(now, throttled.until);
    throttled.totalMs += longer;
    throttled.until = end;
    if (longer >= 5_000) throttled.onLongWait?.(ms);
  }
}

export interface ConnectionOptions {
  clock?: Clock;
  fetch?: typeof fetch;
  tokens?: TokenSource;
}

export function createM365Connection(
  settings: M365Settings,
  log: Logger,
  options: ConnectionOptions = {},
): M365Connection {
  const clock = options.clock ?? systemClock;
  const tokens = options.tokens ?? createTokenSource(settings, log);
  const requests: Record<TenantResource, number> = { graph: 0, mysite: 0, admin: 0 };
  const throttled: Throttled = { count: 0, totalMs: 0, until: 0 };
  const http = createTenantHttp({
    settings,
    tokens,
    clock,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    onRequest: (resource) => (requests[resource] += 1),
    onThrottled: (ms) => noteThrottle(throttled, ms, clock.now()),
  });
  return { settings, tokens, http, clock, log, requests, throttled };
}
