import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import type { Dispatcher } from 'undici';
import { lazy } from '../lazy.js';
import { describeError } from './errors.js';
import { ThroughProxyError, proxyFor, type OutboundProxy } from './proxy.js';
import type { M365Settings } from './settings.js';
import { loadMsal } from './tokens.js';

// Every request connect mode sends to the tenant (the OpenID metadata, MSAL's token requests,
// Graph, SharePoint REST, the ID token's signing keys) goes through one undici dispatcher, made
// once per settings: each origin is reached directly or through the proxy m365/proxy.ts names for
// it, so NO_PROXY holds for MSAL as for the rest. A request that fails on its way through a proxy
// fails with a ThroughProxyError, which networkProblem (m365/token-errors.ts) tells in words; one
// that its caller's signal ends (its deadline ran out, it was aborted) fails with the signal's own
// error, as without a proxy: a slow Graph or SharePoint is the tenant's, not the proxy's.
//
// undici is loaded on first use, as MSAL is: most processes never talk to a tenant.

const loadUndici = lazy(() => import('undici'));

const dispatchers = new WeakMap<OutboundProxy, () => Promise<Dispatcher>>();

/** The dispatcher for the tenant's requests under these proxy settings, made on first use. */
function dispatcherFor(proxy: OutboundProxy): Promise<Dispatcher> {
  let made = dispatchers.get(proxy);
  if (!made) {
    made = lazy(async () => {
      const { Agent, Pool, ProxyAgent } = await loadUndici();
      return new Agent({
        factory: (origin, options) => {
          const via = proxyFor(proxy, String(origin));
          return via ? new ProxyAgent({ uri: via.url() }) : new Pool(origin, options);
        },
      });
    });
    dispatchers.set(proxy, made);
  }
  return made();
}

export interface TenantFetchInit {
  method?: string;
  headers?: Record<string, string> | Headers;
  body?: string | Uint8Array<ArrayBuffer>;
  signal?: AbortSignal;
  redirect?: 'follow' | 'manual' | 'error';
}

/** fetch for the tenant's addresses: through the proxy that applies, if any; see above. */
export async function tenantFetch(settings: M365Settings, url: string, init: TenantFetchInit = {}): Promise<Response> {
  const [{ fetch }, dispatcher] = await Promise.all([loadUndici(), dispatcherFor(settings.proxy)]);
  const via = proxyFor(settings.proxy, url);
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((value, name) => (headers[name] = value));
  try {
    // undici's Response is the standard one, typed by undici's own declarations.
    return (await fetch(url, { ...init, headers, dispatcher })) as unknown as Response;
  } catch (error) {
    throw via && !endedBySignal(error, init.signal) ? new ThroughProxyError(via, error) : error;
  }
}

/** Whether a request failed because its caller's signal ended it (a deadline, an abort). */
function endedBySignal(error: unknown, signal: AbortSignal | undefined): boolean {
  if (signal?.aborted && error === signal.reason) return true;
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}

/** tenantFetch as a fetch function, for code written against fetch (tenant-http, jose). */
export function tenantFetcher(settings: M365Settings): (url: string, init?: TenantFetchInit) => Promise<Response> {
  return (url, init) => tenantFetch(settings, url, init);
}

/**
 * How long one of MSAL's requests (a token request, the OpenID metadata) may wait for its answer:
 * MSAL sets no deadline for a token request, and a sign-in host or a proxy that takes the
 * connection and says nothing would otherwise hold the token request every Graph and SharePoint
 * request of the process waits on for minutes.
 */
export const MSAL_ANSWER_WITHIN_MS = 30_000;

/**
 * MSAL's network module over tenantFetch, answering as MSAL's own HttpClient does: JSON bodies,
 * headers as a plain object. A request that fails is an AuthError (which MSAL passes on as it is)
 * whose cause is the failure, so explainTokenError finds a proxy's refusal or a refused connection;
 * one that got no answer within `answerWithinMs` (default MSAL_ANSWER_WITHIN_MS, or the shorter
 * timeout MSAL names for a GET) carries `noAnswer`, the words networkProblem tells it in
 * ('the token request to https://login.microsoftonline.com got no answer in 30 s').
 */
export async function msalNetworkClient(
  settings: M365Settings,
  answerWithinMs = MSAL_ANSWER_WITHIN_MS,
): Promise<INetworkModule> {
  const { AuthError, ClientAuthErrorCodes } = await loadMsal();
  const send = async <T>(
    url: string,
    method: 'GET' | 'POST',
    options: NetworkRequestOptions = {},
    timeoutMs?: number,
  ): Promise<NetworkResponse<T>> => {
    const withinMs = timeoutMs && timeoutMs > 0 ? Math.min(timeoutMs, answerWithinMs) : answerWithinMs;
    const signal = AbortSignal.timeout(withinMs);
    const what = method === 'POST' ? 'token request' : 'request';
    // The failure as MSAL's network error, in seconds when the deadline ran out (before the answer or during its body).
    const networkError = (error: unknown) => {
      const timedOut = signal.aborted && (error as { name?: unknown } | null)?.name === 'TimeoutError';
      const noAnswer = `the ${what} to ${new URL(url).origin} got no answer in ${seconds(withinMs)}`;
      const failed = new AuthError(
        ClientAuthErrorCodes.networkError,
        `Network request failed: ${timedOut ? noAnswer : describeError(error)}`,
      );
      return Object.assign(failed, { cause: error }, timedOut ? { noAnswer } : {});
    };
    let response: Response;
    try {
      response = await tenantFetch(settings, url, {
        method,
        headers: { ...options.headers },
        ...(method === 'POST' ? { body: options.body ?? '' } : {}),
        signal,
      });
    } catch (error) {
      throw networkError(error);
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, key) => (headers[key] = value));
    try {
      return { headers, body: (await response.json()) as T, status: response.status };
    } catch (error) {
      if (signal.aborted) throw networkError(error);
      throw new AuthError(ClientAuthErrorCodes.tokenParsingError, `Failed to parse response: ${describeError(error)}`);
    }
  };
  return {
    sendGetRequestAsync: (url, options, timeout) => send(url, 'GET', options, timeout),
    sendPostRequestAsync: (url, options) => send(url, 'POST', options),
  };
}

/** A deadline in words: `30 s`, `0.2 s`. */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
