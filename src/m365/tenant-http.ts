import type { Clock } from './clock.js';
import { describeError, tenantError } from './errors.js';
import { tenantFetcher } from './network.js';
import { backoffMs, NETWORK_ATTEMPTS, RETRY_LATER, retryAfterMs, TRANSIENT } from './retry.js';
import type { M365Settings } from './settings.js';
import { networkProblem } from './token-errors.js';
import type { TenantResource, TokenSource } from './tokens.js';

// One request to the tenant with the right bearer token, tried again after 429/503 (waiting
// Retry-After) and after transient failures (backing off). Tokens go only to the configured hosts
// of their audience: a URL read from the tenant's data (a PictureURL, a nextLink) that points
// elsewhere is refused, never followed with a token.

export interface TenantHttp {
  request(resource: TenantResource, url: string, init?: TenantRequestInit): Promise<Response>;
}

export interface TenantRequestInit {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
  /**
   * Tries for this request, when its caller retries by itself: a `$batch` is retried by the batch
   * scheduler, whose one pause holds back every batch while Graph throttles.
   */
  attempts?: number;
}

export interface TenantHttpDeps {
  settings: M365Settings;
  tokens: TokenSource;
  clock: Clock;
  /** How requests are sent (default: tenantFetch, through the proxy that applies). */
  fetch?: typeof fetch;
  /** Tries per request (first one included) before a 429/503/5xx answer is returned as it is. */
  maxAttempts?: number;
  /** Called for every request sent (retries included), e.g. to count Graph requests. */
  onRequest?: (resource: TenantResource) => void;
  onThrottled?: (waitMs: number) => void;
  /** How long one request may take, its body included (default REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
}

/** A tenant that accepts a connection and never answers must not hold a push (and its user) forever. */
export const REQUEST_TIMEOUT_MS = 60_000;

const SETTING_OF: Record<TenantResource, string> = {
  graph: 'PHOTOSYNC_M365_GRAPH_URL',
  mysite: 'PHOTOSYNC_M365_MYSITE_URL',
  admin: 'PHOTOSYNC_M365_ADMIN_URL',
};

export function originOf(settings: M365Settings, resource: TenantResource): string {
  return { graph: settings.graphUrl, mysite: settings.mySiteUrl, admin: settings.adminUrl }[resource];
}

export function createTenantHttp(deps: TenantHttpDeps): TenantHttp {
  const send = deps.fetch ?? tenantFetcher(deps.settings);
  const maxAttempts = deps.maxAttempts ?? 6;
  const timeoutMs = deps.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  return {
    async request(resource, url, init = {}) {
      const origin = originOf(deps.settings, resource);
      if (new URL(url).origin !== origin) {
        throw tenantError(
          'unexpected',
          `Refused to send a ${resource} token to ${new URL(url).origin}, which is not ${origin}.`,
        );
      }
      const tries = init.attempts ?? maxAttempts;
      let refused = false;
      for (let attempt = 1; ; attempt += 1) {
        const token = await deps.tokens.token(resource, refused);
        deps.onRequest?.(resource);
        let response: Response;
        try {
          response = await send(url, {
            method: init.method ?? 'GET',
            headers: { ...init.headers, authorization: `Bearer ${token}` },
            ...(init.body === undefined ? {} : { body: init.body }),
            signal: AbortSignal.timeout(timeoutMs),
          });
        } catch (error) {
          // A host that cannot be reached is tried NETWORK_ATTEMPTS times (1 s and 2 s apart): a
          // person at a tile or a console page is told in seconds, not after half a minute.
          if (attempt < Math.min(tries, NETWORK_ATTEMPTS) && !isPermanentNetworkError(error)) {
            await deps.clock.sleep(backoffMs(attempt));
            continue;
          }
          const network = networkProblem(error);
          throw network
            ? tenantError(
                network.problem,
                `${origin} cannot be reached: ${network.what}.`,
                network.fix(origin, SETTING_OF[resource]),
              )
            : tenantError('unreachable', `${origin} cannot be reached: ${describeError(error)}.`);
        }
        // A token the tenant refuses (its app removed, its certificate revoked, its keys rolled) is
        // not kept: one more try with a new one, which fails with Entra's reason if that is why.
        if (response.status === 401 && !refused && attempt < tries) {
          refused = true;
          await response.body?.cancel();
          continue;
        }
        if (attempt < tries && (RETRY_LATER.has(response.status) || TRANSIENT.has(response.status))) {
          const named = retryAfterMs(response.headers.get('retry-after'), deps.clock.now());
          const wait = named ?? backoffMs(attempt);
          if (RETRY_LATER.has(response.status)) deps.onThrottled?.(wait);
          await response.body?.cancel();
          await deps.clock.sleep(wait);
          continue;
        }
        return response;
      }
    },
  };
}

/** A name that does not resolve will not resolve a second later, nor will a proxy take credentials it refused. */
function isPermanentNetworkError(error: unknown): boolean {
  const network = networkProblem(error);
  return network?.problem === 'wrong_url' || network?.lasting === true;
}

/** Reads at most `limit` bytes of a response body; undefined when it is longer. */
export async function readBody(response: Response, limit: number): Promise<Buffer | undefined> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.body) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks);
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(Buffer.from(value));
  }
}
