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
  throttled: { count: number; totalMs: number };
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
  const throttled = { count: 0, totalMs: 0 };
  const http = createTenantHttp({
    settings,
    tokens,
    clock,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    onRequest: (resource) => (requests[resource] += 1),
    onThrottled: (ms) => {
      throttled.count += 1;
      throttled.totalMs += ms;
    },
  });
  return { settings, tokens, http, clock, log, requests, throttled };
}
