import { describeError, tenantError, type TenantError } from './errors.js';
import { shownProxy, ThroughProxyError, type ProxySetting } from './proxy.js';
import type { M365Settings } from './settings.js';

// Entra's refusals, turned into what an administrator does about them. Entra's error codes
// (AADSTS…) are listed at https://learn.microsoft.com/entra/identity-platform/reference-error-codes;
// Microsoft warns the texts change, so only the codes are read, and the text is kept for the log.

interface Explanation {
  problem: TenantError['problem'];
  /** `scope`: the resource asked for (`https://contoso-admin.sharepoint.com/.default`). */
  fix: (settings: M365Settings, scope: string) => string;
}

/** The setting a resource scope was made from, so a fix names the one URL to check. */
export function settingOfScope(settings: M365Settings, scope: string): { name: string; url: string } | undefined {
  const origin = scope.replace(/\/\.default$/, '');
  const candidates: Array<[string, string]> = [
    ['PHOTOSYNC_M365_GRAPH_URL', settings.graphUrl],
    ['PHOTOSYNC_M365_MYSITE_URL', settings.mySiteUrl],
    ['PHOTOSYNC_M365_ADMIN_URL', settings.adminUrl],
  ];
  const found = candidates.find(([, url]) => url === origin);
  return found && { name: found[0], url: found[1] };
}

const CERTIFICATE: Explanation = {
  problem: 'certificate',
  fix: (s) =>
    `Entra ID does not accept the certificate: upload its public part to the app (App registrations → Certificates & secrets → Certificates); its thumbprint, as the admin center lists it, is ${s.certificate.thumbprintSha1} (SHA-256: ${s.certificate.thumbprintSha256}).`,
};
const CLOCK: Explanation = {
  problem: 'clock',
  fix: () =>
    'Entra ID finds the signed request outside its valid time: this machine’s clock is probably wrong; set it by NTP.',
};
const APP: Explanation = {
  problem: 'app',
  fix: (s) =>
    `Entra ID knows no app ${s.clientId} in tenant ${s.tenant} (or it is disabled): check PHOTOSYNC_M365_CLIENT_ID and PHOTOSYNC_M365_TENANT.`,
};
const TENANT: Explanation = {
  problem: 'tenant',
  fix: (s) =>
    `Entra ID knows no tenant "${s.tenant}": check PHOTOSYNC_M365_TENANT (the tenant id or its onmicrosoft.com domain).`,
};
const CONSENT: Explanation = {
  problem: 'consent',
  fix: () =>
    'An administrator has not granted consent: App registrations → API permissions → "Grant admin consent" (docs/M365.md lists the permissions).',
};
const RESOURCE: Explanation = {
  problem: 'wrong_url',
  fix: (s, scope) => {
    const setting = settingOfScope(s, scope);
    return setting
      ? `Entra ID knows no resource ${setting.url} in the tenant: check ${setting.name}.`
      : 'Entra ID does not know this resource in the tenant: check PHOTOSYNC_M365_GRAPH_URL, PHOTOSYNC_M365_SHAREPOINT_URL, PHOTOSYNC_M365_MYSITE_URL and PHOTOSYNC_M365_ADMIN_URL.';
  },
};
const POLICY: Explanation = {
  problem: 'permission',
  fix: () => 'A Conditional Access policy blocks the app: exclude it from the policy or allow its sign-ins.',
};

const BY_CODE: Record<string, Explanation> = {
  '700027': CERTIFICATE, // client assertion failed signature validation
  '50012': CERTIFICATE, // signing certificate not authorized / invalid assertion signature
  '700030': CERTIFICATE, // certificate subject not authorized
  '50146': CERTIFICATE,
  '700024': CLOCK, // client assertion is not within its valid time range
  '500133': CLOCK,
  '700016': APP, // application not found in the directory
  '700011': APP,
  '70001': APP,
  '7000112': APP, // application disabled
  '90002': TENANT, // tenant not found
  '50128': TENANT,
  '90023': TENANT,
  '65001': CONSENT, // consent not granted
  '90094': CONSENT,
  '650056': CONSENT,
  '500011': RESOURCE, // resource principal not found in the tenant
  '50001': RESOURCE,
  '70011': RESOURCE, // invalid scope
  '53003': POLICY,
};

/** MSAL's error for a token request, as a TenantError naming the fix. */
export function explainTokenError(error: unknown, settings: M365Settings, resource: string): TenantError {
  const text = describeError(error);
  const code = /AADSTS(\d+)/.exec(text)?.[1];
  const known = code === undefined ? undefined : BY_CODE[code];
  const what = `No token for ${resource}${code ? ` (AADSTS${code})` : ''}.`;
  if (known) return tenantError(known.problem, what, known.fix(settings, resource));
  const network = networkProblem(error);
  if (network) {
    return tenantError(
      network.problem,
      `No token for ${resource}: ${network.what}.`,
      network.fix(settings.authorityHost, 'PHOTOSYNC_M365_AUTHORITY_HOST'),
    );
  }
  if (metadataUnread(error)) {
    // MSAL could not read the tenant's OpenID metadata (it names no cause; explainTokenFailure
    // asks the host whether anything answers there).
    return tenantError(
      'wrong_url',
      `No token for ${resource}: ${settings.authorityHost}/${settings.tenant}/v2.0/.well-known/openid-configuration could not be read.`,
      'Check PHOTOSYNC_M365_AUTHORITY_HOST and PHOTOSYNC_M365_TENANT, and that this machine reaches and trusts that host.',
    );
  }
  return tenantError('unexpected', `No token for ${resource}: ${text}`);
}

/** MSAL's error when it could not read the tenant's OpenID metadata from the sign-in host. */
export function metadataUnread(error: unknown): boolean {
  return /endpoints_resolution_error|openid_config_error|untrusted_authority/.test(describeError(error));
}

interface NetworkProblem {
  problem: 'unreachable' | 'wrong_url';
  what: string;
  fix: (url: string, setting: string) => string;
  /** Trying again in a second would meet the same answer (a proxy refusing its credentials). */
  lasting?: boolean;
  /** The failure is the proxy's, or met on the way through it: the fix names the proxy's variable. */
  proxy?: boolean;
}

/**
 * Connection-level failures (DNS, refused, TLS), from Node's error codes anywhere in the cause
 * chain; on the way through a proxy, the proxy's refusals and failures, naming its variable.
 */
export function networkProblem(error: unknown): NetworkProblem | undefined {
  const codes: string[] = [];
  let through: ProxySetting | undefined;
  let noAnswer: string | undefined;
  for (let e: unknown = error, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth += 1) {
    if (e instanceof ThroughProxyError) through ??= e.proxy;
    // A request whose deadline ran out, in words (m365/network.ts's MSAL requests).
    const words = (e as { noAnswer?: unknown }).noAnswer;
    if (typeof words === 'string') noAnswer ??= words;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    // fetch's own deadline (AbortSignal.timeout) ran out: the host took the connection and said nothing.
    if ((e as { name?: unknown }).name === 'TimeoutError') codes.push('ETIMEDOUT');
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string')
      codes.push(...(message.match(/\bE[A-Z_]{4,}\b|[A-Z_]{6,}_CERT[A-Z_]*|CERT_[A-Z_]+/g) ?? []));
    // undici's words for a proxy that answered CONNECT with something other than 200.
    const refused = typeof message === 'string' ? /Proxy response \((\d{3})\)/.exec(message) : null;
    if (refused) codes.push(`PROXY_${refused[1]}`);
  }
  if (through) return proxyProblem(through, codes);
  if (noAnswer) {
    return {
      problem: 'unreachable',
      what: noAnswer,
      fix: (url, setting) => `Check ${setting} (${url}) and that this machine may reach it (firewall, proxy).`,
    };
  }
  // EAI_AGAIN is the resolver failing for now (no answer from the DNS server), not a name that
  // does not exist: it is tried again, and told as a network problem, not as a wrong address.
  if (codes.includes('EAI_AGAIN') && !codes.includes('ENOTFOUND')) {
    return {
      problem: 'unreachable',
      what: 'the host name could not be looked up just now (EAI_AGAIN: the DNS server did not answer)',
      fix: (url, setting) => `Check this machine's DNS server, then ${setting} (${url}).`,
    };
  }
  if (codes.includes('ENOTFOUND')) {
    return {
      problem: 'wrong_url',
      what: 'the host name does not resolve',
      fix: (url, setting) => `Check ${setting} (${url}).`,
    };
  }
  if (codes.some((c) => /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(c))) {
    return {
      problem: 'unreachable',
      what: 'its TLS certificate is not trusted',
      fix: (url) => `Trust the certificate of ${url} (for a private CA: NODE_EXTRA_CA_CERTS=/path/to/ca.pem).`,
    };
  }
  if (
    codes.some((c) =>
      ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT'].includes(c),
    )
  ) {
    return {
      problem: 'unreachable',
      what: 'nothing answers',
      fix: (url, setting) => `Check ${setting} (${url}) and that this machine may reach it (firewall, proxy).`,
    };
  }
  return undefined;
}

const REFUSED_CONNECTION = ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT'];

/**
 * A request through `proxy` that failed: the proxy's answer to CONNECT (407, 403, 5xx), a proxy
 * that does not answer or whose name does not resolve (the only connection photosync opens is the
 * proxy's), a certificate not trusted, or an answer that never came through.
 */
function proxyProblem(proxy: ProxySetting, codes: string[]): NetworkProblem {
  const named = `the proxy ${shownProxy(proxy)} (${proxy.variable})`;
  const variable = proxy.variable;
  const host = new URL(proxy.url()).host;
  const status = codes.find((c) => c.startsWith('PROXY_'))?.slice('PROXY_'.length);
  const common = { problem: 'unreachable' as const, proxy: true };
  if (status === '407') {
    return proxy.credentials
      ? {
          ...common,
          lasting: true,
          what: `${named} refused the user name and password in ${variable} (407 Proxy Authentication Required)`,
          fix: () =>
            `Check the user name and password in ${variable} (write @ : / # % in them as %40 %3A %2F %23 %25).`,
        }
      : {
          ...common,
          lasting: true,
          what: `${named} asks for a user name and password (407 Proxy Authentication Required)`,
          fix: () =>
            `Put the proxy's user name and password in ${variable}, written user:password@ before the proxy's host (${host}).`,
        };
  }
  if (status === '403') {
    return {
      ...common,
      lasting: true,
      what: `${named} refused to connect to it (403 Forbidden)`,
      fix: (url) =>
        `Ask the proxy's administrators to let this machine reach ${new URL(url).host}, or name that host in NO_PROXY if this machine may reach it directly.`,
    };
  }
  if (status !== undefined) {
    return {
      ...common,
      what: `${named} could not connect to it (${status})`,
      fix: (url, setting) => `Check ${setting} (${url}), and that the proxy may reach it.`,
    };
  }
  if (codes.includes('ENOTFOUND') || codes.includes('EAI_AGAIN')) {
    return {
      ...common,
      lasting: codes.includes('ENOTFOUND'),
      what: `the host name of ${named} does not resolve`,
      fix: () => `Check ${variable}: the proxy's host name and port.`,
    };
  }
  if (codes.some((c) => /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(c))) {
    return {
      ...common,
      what: `its TLS certificate, met through ${named}, is not trusted`,
      fix: (url) =>
        `Trust the certificate of ${url}, or of the proxy if it inspects TLS (for a private CA: NODE_EXTRA_CA_CERTS=/path/to/ca.pem).`,
    };
  }
  if (codes.some((c) => REFUSED_CONNECTION.includes(c))) {
    return {
      ...common,
      what: `nothing answers at ${named}`,
      fix: () => `Check ${variable}: the proxy's host name and port, and that the proxy is running.`,
    };
  }
  return {
    ...common,
    what: `no answer came through ${named}`,
    fix: (url, setting) => `Check ${variable}, and that the proxy may reach ${url} (${setting}).`,
  };
}
