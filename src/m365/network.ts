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
// fails with a ThroughProxyError, which networkProblem (m365/token-errors.ts) tells in words.
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
    throw via ? new ThroughProxyError(via, error) : error;
  }
}

/** tenantFetch as a fetch function, for code written against fetch (tenant-http, jose). */
export function tenantFetcher(settings: M365Settings): (url: string, init?: TenantFetchInit) => Promise<Response> {
  return (url, init) => tenantFetch(settings, url, init);
}

/**
 * MSAL's network module over tenantFetch, answering as MSAL's own HttpClient does: JSON bodies,
 * headers as a plain object. A request that fails is an AuthError (which MSAL passes on as it is)
 * whose cause is the failure, so explainTokenError finds a proxy's refusal or a refused connection.
 */
export async function msalNetworkClient(settings: M365Settings): Promise<INetworkModule> {
  const { AuthError, ClientAuthErrorCodes } = await loadMsal();
  const send = async <T>(
    url: string,
    method: 'GET' | 'POST',
    options: NetworkRequestOptions = {},
    timeoutMs?: number,
  ): Promise<NetworkResponse<T>> => {
    let response: Response;
    try {
      response = await tenantFetch(settings, url, {
        method,
        headers: { ...options.headers },
        ...(method === 'POST' ? { body: options.body ?? '' } : {}),
        ...(timeoutMs ? { signal: AbortSignal.timeout(timeoutMs) } : {}),
      });
    } catch (error) {
      const failed = new AuthError(
        ClientAuthErrorCodes.networkError,
        `Network request failed: ${describeError(error)}`,
      );
      throw Object.assign(failed, { cause: error });
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, key) => (headers[key] = value));
    try {
      return { headers, body: (await response.json()) as T, status: response.status };
    } catch (error) {
      throw new AuthError(ClientAuthErrorCodes.tokenParsingError, `Failed to parse response: ${describeError(error)}`);
    }
  };
  return {
    sendGetRequestAsync: (url, options, timeout) => send(url, 'GET', options, timeout),
    sendPostRequestAsync: (url, options) => send(url, 'POST', options),
  };
}
