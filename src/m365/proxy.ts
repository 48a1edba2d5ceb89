// Connect mode's way out through an HTTP proxy, read from the variables every tool reads:
// HTTPS_PROXY (else HTTP_PROXY) for the tenant's https addresses, HTTP_PROXY for http ones, and
// NO_PROXY for the hosts reached directly; the lower-case forms win, as with curl. This module is
// the one place that decides which proxy, if any, carries a request: the dispatcher routes by it
// (m365/network.ts) and `m365 check` and the error messages tell it. A proxy's password is never
// shown: `shownProxy` is how a proxy appears in any text.

export interface ProxySetting {
  /**
   * The proxy's URL as given, credentials included: only for the dispatcher. A function, so that
   * the password stays out of JSON and inspected output of the settings, as the private key does.
   */
  url(): string;
  /** The variable it came from (`HTTPS_PROXY`, `https_proxy`, `HTTP_PROXY` …), for messages. */
  variable: string;
  /**
   * Whether the URL carries a user name and password (and so Proxy-Authorization is sent); a URL
   * with only one of them is refused by readOutboundProxy, since nothing would be sent.
   */
  credentials: boolean;
}

export interface NoProxyEntry {
  /** Lower-case host name or IP literal (IPv6 without brackets); `*` for every host. */
  host: string;
  /** 0 for any port. */
  port: number;
}

export interface OutboundProxy {
  https: ProxySetting | undefined;
  http: ProxySetting | undefined;
  noProxy: NoProxyEntry[];
  /** The variable NO_PROXY came from, when set. */
  noProxyVariable: string | undefined;
}

export const NO_OUTBOUND_PROXY: OutboundProxy = {
  https: undefined,
  http: undefined,
  noProxy: [],
  noProxyVariable: undefined,
};

const PROXY_SCHEMES = ['http:', 'https:'];
const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 };

/**
 * The proxy variables of `env`. A value that is no proxy URL adds one sentence to `problems`
 * (naming the variable, its password hidden), and so does a user name without a password or a
 * password without a user name: the proxy would be sent neither. `proxy.example:3128` without a
 * scheme is taken as http://, as curl takes it.
 */
export function readOutboundProxy(env: NodeJS.ProcessEnv, problems: string[]): OutboundProxy {
  const pick = (name: string): { variable: string; value: string } | undefined => {
    for (const variable of [name.toLowerCase(), name]) {
      const value = env[variable]?.trim();
      if (value) return { variable, value };
    }
    return undefined;
  };
  const read = (name: string): ProxySetting | undefined => {
    const given = pick(name);
    if (!given) return undefined;
    const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(given.value) ? given.value : `http://${given.value}`;
    const url = URL.canParse(text) ? new URL(text) : undefined;
    if (
      !url ||
      !PROXY_SCHEMES.includes(url.protocol) ||
      !url.hostname ||
      (url.pathname !== '/' && url.pathname !== '')
    ) {
      problems.push(
        `${given.variable} must be the proxy's URL, like http://proxy.example:3128 or http://user:password@proxy.example:3128 (an http:// or https:// proxy), got "${hidePassword(given.value)}".`,
      );
      return undefined;
    }
    if ((url.username === '') !== (url.password === '')) {
      const user = url.username ? `the user name "${url.username}" but no password` : 'a password but no user name';
      problems.push(
        `${given.variable} gives ${user}, and photosync sends the proxy its credentials only as both: write them as http://user:password@${url.host}, or neither if the proxy asks for none, got "${hidePassword(given.value)}".`,
      );
      return undefined;
    }
    const href = url.href;
    return { url: () => href, variable: given.variable, credentials: url.username !== '' };
  };
  const http = read('HTTP_PROXY');
  const https = read('HTTPS_PROXY') ?? http;
  const noProxy = pick('NO_PROXY');
  return {
    https,
    http,
    noProxy: noProxy ? parseNoProxy(noProxy.value) : [],
    noProxyVariable: noProxy?.variable,
  };
}

/**
 * NO_PROXY's entries: host names (`contoso.com` and `.contoso.com` both take its subdomains too,
 * `*.contoso.com` as well), IP literals, either with `:port` for that port only, and `*` for all.
 */
export function parseNoProxy(value: string): NoProxyEntry[] {
  return value
    .split(/[,\s]+/)
    .filter((entry) => entry !== '')
    .map((entry) => {
      const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
      const withPort = bracketed ? undefined : /^([^:]+):(\d+)$/.exec(entry);
      const host = bracketed?.[1] ?? withPort?.[1] ?? entry;
      const port = Number(bracketed?.[2] ?? withPort?.[2] ?? 0);
      return { host: host.replace(/^\*?\./, '').toLowerCase(), port };
    });
}

/** The proxy that carries a request to `url`; undefined when it goes directly. */
export function proxyFor(proxy: OutboundProxy, url: string): ProxySetting | undefined {
  const target = new URL(url);
  const chosen = target.protocol === 'https:' ? proxy.https : proxy.http;
  if (!chosen) return undefined;
  return exemptByNoProxy(proxy, target) ? undefined : chosen;
}

function exemptByNoProxy(proxy: OutboundProxy, target: URL): boolean {
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = Number(target.port) || DEFAULT_PORTS[target.protocol] || 0;
  return proxy.noProxy.some(
    (entry) =>
      entry.host === '*' ||
      ((entry.port === 0 || entry.port === port) && (host === entry.host || host.endsWith(`.${entry.host}`))),
  );
}

/** A proxy URL as given, with its password, if any, replaced by `[removed]` (as errors.ts's scrub does). */
export function hidePassword(text: string): string {
  // The scheme first, so that in http://alice@proxy (no password) its colon is not taken for the password's.
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(text)?.[0] ?? '';
  return scheme + text.slice(scheme.length).replace(/^([^/@:\s]*):\S*@/, '$1:[removed]@');
}

/** The proxy as any text shows it: its URL without the password (`http://alice:[removed]@proxy.example:3128`). */
export function shownProxy(setting: ProxySetting): string {
  const url = new URL(setting.url());
  const user = url.username ? `${url.username}${url.password ? ':[removed]' : ''}@` : '';
  return `${url.protocol}//${user}${url.host}`;
}

/** `m365 check`'s words for the way to the tenant's addresses: which proxy, from which variable, and what NO_PROXY exempts. */
export function describeRoute(proxy: OutboundProxy, addresses: readonly string[]): string {
  const origins = [...new Set(addresses.map((address) => new URL(address).origin))];
  const routes = origins.map((origin) => ({ origin, via: proxyFor(proxy, origin) }));
  const proxies = [...new Set(routes.flatMap(({ via }) => (via ? [via] : [])))];
  const direct = routes.filter(({ via }) => !via).map(({ origin }) => origin);
  if (proxies.length === 0) {
    return proxy.https
      ? `none: ${proxy.noProxyVariable ?? 'NO_PROXY'} exempts every address of the tenant from ${shownProxy(proxy.https)} (${proxy.https.variable})`
      : 'none: HTTPS_PROXY and HTTP_PROXY are not set, so photosync connects directly';
  }
  const used = proxies.map((via) => `${shownProxy(via)} (${via.variable})`).join(', ');
  return direct.length === 0
    ? `${used}, for every address of the tenant`
    : `${used}; directly to ${direct.join(', ')} (${proxy.noProxyVariable ?? 'NO_PROXY'})`;
}

/**
 * A request that failed on its way through a proxy: the proxy refused it (407, 403, …), did not
 * answer, or the connection through it broke. Its message names the proxy without its password.
 */
export class ThroughProxyError extends Error {
  constructor(
    readonly proxy: ProxySetting,
    cause: unknown,
  ) {
    super(`Through the proxy ${shownProxy(proxy)} (${proxy.variable}): ${causeText(cause)}`, { cause });
    this.name = 'ThroughProxyError';
  }
}

function causeText(cause: unknown): string {
  const texts: string[] = [];
  for (let e: unknown = cause, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth += 1) {
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && message !== '') texts.push(message);
  }
  return hidePassword(texts.join(': ') || String(cause));
}
