import fs from 'node:fs';
import path from 'node:path';
import { readOutboundProxy, type OutboundProxy } from './proxy.js';
import { isPkcs12, pkcs12Problem, readClientCertificate, type ClientCertificate } from './certificate.js';

// Connect mode's settings: which Microsoft 365 tenant photosync reads and writes, as which app.
// All or nothing: none of the connect settings means photosync is its own organisation; some of
// them is a mistake that stops start-up.

export interface M365Settings {
  /** Tenant id (GUID) or one of its domains (contoso.onmicrosoft.com). */
  tenant: string;
  /** The app registration's application (client) id. */
  clientId: string;
  certificate: ClientCertificate;
  /** https://contoso.sharepoint.com */
  sharePointUrl: string;
  /** The My Site host, where "User Photos" lives: https://contoso-my.sharepoint.com */
  mySiteUrl: string;
  /** The SharePoint admin site, where PeopleManager may write other people's profiles. */
  adminUrl: string;
  /** Entra's sign-in host: https://login.microsoftonline.com (sovereign clouds and tests differ). */
  authorityHost: string;
  /** https://graph.microsoft.com */
  graphUrl: string;
  /** How often `photosync serve` scans the tenant by itself; undefined = never (the default). */
  scanEveryMs: number | undefined;
  /** The proxy for the tenant's addresses, from HTTPS_PROXY, HTTP_PROXY and NO_PROXY (m365/proxy.ts). */
  proxy: OutboundProxy;
}

export const M365_REQUIRED_SETTINGS = [
  'PHOTOSYNC_M365_TENANT',
  'PHOTOSYNC_M365_CLIENT_ID',
  'PHOTOSYNC_M365_CERTIFICATE',
  'PHOTOSYNC_M365_SHAREPOINT_URL',
] as const;

export const M365_OPTIONAL_SETTINGS = [
  'PHOTOSYNC_M365_MYSITE_URL',
  'PHOTOSYNC_M365_ADMIN_URL',
  'PHOTOSYNC_M365_AUTHORITY_HOST',
  'PHOTOSYNC_M365_GRAPH_URL',
  'PHOTOSYNC_M365_SCAN_EVERY',
] as const;

export const M365_SETTING_NAMES: readonly string[] = [...M365_REQUIRED_SETTINGS, ...M365_OPTIONAL_SETTINGS];

const PUBLIC_CLOUD = { authorityHost: 'https://login.microsoftonline.com', graphUrl: 'https://graph.microsoft.com' };

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
/** Multi-tenant authority segments: an app reading one organisation must name it. */
const NOT_A_TENANT = ['common', 'organizations', 'consumers'];

/**
 * Reads connect mode's settings from the environment. Returns undefined when none is set; adds
 * one sentence per mistake to `problems` (naming the setting) and returns undefined when any is
 * wrong or missing.
 */
export function readM365Settings(env: NodeJS.ProcessEnv, cwd: string, problems: string[]): M365Settings | undefined {
  const value = (name: string) => env[name]?.trim() || undefined;
  const given = M365_SETTING_NAMES.filter((name) => value(name) !== undefined);
  if (given.length === 0) return undefined;
  const before = problems.length;
  const missing = M365_REQUIRED_SETTINGS.filter((name) => value(name) === undefined);
  if (missing.length > 0) {
    problems.push(
      `${missing.join(', ')} must be set too: connect mode needs ${M365_REQUIRED_SETTINGS.join(', ')} ` +
        `(${given.join(', ')} ${given.length === 1 ? 'is' : 'are'} set; unset ${given.length === 1 ? 'it' : 'them'} to run without a tenant).`,
    );
  }

  const tenant = value('PHOTOSYNC_M365_TENANT');
  if (
    tenant !== undefined &&
    (!(GUID.test(tenant) || DOMAIN.test(tenant)) || NOT_A_TENANT.includes(tenant.toLowerCase()))
  ) {
    problems.push(
      `PHOTOSYNC_M365_TENANT must be the tenant id (a GUID) or one of its domains such as contoso.onmicrosoft.com, got "${tenant}".`,
    );
  }
  const clientId = value('PHOTOSYNC_M365_CLIENT_ID');
  if (clientId !== undefined && !GUID.test(clientId)) {
    problems.push(`PHOTOSYNC_M365_CLIENT_ID must be the app's application (client) id, a GUID, got "${clientId}".`);
  }

  const certificate = readCertificateSetting(value('PHOTOSYNC_M365_CERTIFICATE'), cwd, problems);

  const url = (name: string, fallback?: string) => httpsUrl(name, value(name) ?? fallback, problems);
  const sharePointUrl = url('PHOTOSYNC_M365_SHAREPOINT_URL');
  const derived = sharePointUrl === undefined ? undefined : deriveSiteUrls(sharePointUrl);
  const mySiteUrl = url('PHOTOSYNC_M365_MYSITE_URL', derived?.mySiteUrl);
  const adminUrl = url('PHOTOSYNC_M365_ADMIN_URL', derived?.adminUrl);
  if (sharePointUrl !== undefined && derived === undefined) {
    for (const name of ['PHOTOSYNC_M365_MYSITE_URL', 'PHOTOSYNC_M365_ADMIN_URL']) {
      if (value(name) === undefined) {
        problems.push(
          `${name} must be set: it can only be derived from a SharePoint URL like https://contoso.sharepoint.com, not "${sharePointUrl}".`,
        );
      }
    }
  }
  const authorityHost = url('PHOTOSYNC_M365_AUTHORITY_HOST', PUBLIC_CLOUD.authorityHost);
  const graphUrl = url('PHOTOSYNC_M365_GRAPH_URL', PUBLIC_CLOUD.graphUrl);

  const scanEveryMs = scanInterval(value('PHOTOSYNC_M365_SCAN_EVERY'), problems);
  const proxy = readOutboundProxy(env, problems);

  if (problems.length > before) return undefined;
  return {
    scanEveryMs,
    proxy,
    tenant: tenant!,
    clientId: clientId!.toLowerCase(),
    certificate: certificate!,
    sharePointUrl: sharePointUrl!,
    mySiteUrl: mySiteUrl!,
    adminUrl: adminUrl!,
    authorityHost: authorityHost!,
    graphUrl: graphUrl!,
  };
}

/** The shortest interval of scheduled scans: a scan of a large tenant takes minutes itself. */
export const MIN_SCAN_EVERY_MS = 15 * 60_000;
/** The longest: a picture out of step for longer than a month is out of step for good. */
export const MAX_SCAN_EVERY_MS = 30 * 86_400_000;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `PHOTOSYNC_M365_SCAN_EVERY`: `off` (the default), or a number with m, h or d: `30m`, `6h`, `1d`. */
function scanInterval(raw: string | undefined, problems: string[]): number | undefined {
  if (raw === undefined || raw.toLowerCase() === 'off') return undefined;
  const match = /^(\d{1,5})\s*([mhd])$/i.exec(raw);
  const ms = match ? Number(match[1]) * UNIT_MS[match[2]!.toLowerCase() as keyof typeof UNIT_MS] : Number.NaN;
  if (!(ms >= MIN_SCAN_EVERY_MS && ms <= MAX_SCAN_EVERY_MS)) {
    problems.push(
      `PHOTOSYNC_M365_SCAN_EVERY must be off or an interval from 15 minutes to 30 days such as 30m, 6h or 1d, got "${raw}".`,
    );
    return undefined;
  }
  return ms;
}

/**
 * `https://contoso.sharepoint.com` → `https://contoso-my.sharepoint.com` and
 * `https://contoso-admin.sharepoint.com`: Microsoft 365 names both after the tenant's first label.
 * A host of fewer than three labels (localhost, a test machine) has no such names.
 */
export function deriveSiteUrls(sharePointUrl: string): { mySiteUrl: string; adminUrl: string } | undefined {
  const url = new URL(sharePointUrl);
  const [first, ...rest] = url.hostname.split('.');
  if (!first || rest.length < 2 || first.endsWith('-my') || first.endsWith('-admin')) return undefined;
  const withLabel = (suffix: string) => {
    const copy = new URL(url.origin);
    copy.hostname = [`${first}${suffix}`, ...rest].join('.');
    return copy.origin;
  };
  return { mySiteUrl: withLabel('-my'), adminUrl: withLabel('-admin') };
}

/** The origin of an https URL (no path, no trailing slash), or undefined with a problem recorded. */
function httpsUrl(name: string, raw: string | undefined, problems: string[]): string | undefined {
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.push(`${name} must be an https:// URL, got "${raw}".`);
    return undefined;
  }
  // MSAL refuses a non-https authority, and bearer tokens must never travel in the clear.
  if (url.protocol !== 'https:') {
    problems.push(`${name} must be an https:// URL (Microsoft 365 and MSAL accept nothing else), got "${raw}".`);
    return undefined;
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username) {
    problems.push(`${name} must be the site's address only, like https://${url.host}, got "${raw}".`);
    return undefined;
  }
  return url.origin;
}

/** The longest value taken for a file's path: anything longer is never repeated in a message. */
const LONGEST_PATH = 1024;

/**
 * The setting holds the PEM itself, the PEM encoded in base64 (as secret stores often keep it), or
 * the path of a PEM file. A value that is none of these is never repeated in the message: it may
 * be a key in some other encoding.
 */
function readCertificateSetting(
  raw: string | undefined,
  cwd: string,
  problems: string[],
): ClientCertificate | undefined {
  if (raw === undefined) return undefined;
  let pem = raw;
  let where = 'PHOTOSYNC_M365_CERTIFICATE';
  const decoded = raw.includes('-----BEGIN') ? undefined : pemInBase64(raw);
  if (decoded !== undefined) {
    pem = decoded;
    where = 'PHOTOSYNC_M365_CERTIFICATE (base64)';
  } else if (!raw.includes('-----BEGIN')) {
    if (looksLikeBase64(raw) && isPkcs12(Buffer.from(raw.replace(/\s+/g, ''), 'base64'))) {
      problems.push(`PHOTOSYNC_M365_CERTIFICATE (base64) ${pkcs12Problem()}.`);
      return undefined;
    }
    if (raw.length > LONGEST_PATH || /[\r\n]/.test(raw) || looksLikeBase64(raw)) {
      problems.push(
        `PHOTOSYNC_M365_CERTIFICATE holds ${raw.length} characters that are neither PEM text, nor PEM text in base64, nor the path of a file; set it to the PEM file with the certificate and its private key, or to the PEM text itself.`,
      );
      return undefined;
    }
    const file = path.resolve(cwd, raw);
    where = `PHOTOSYNC_M365_CERTIFICATE (${file})`;
    try {
      const bytes = fs.readFileSync(file);
      if (isPkcs12(bytes)) {
        problems.push(`${where} ${pkcs12Problem(raw)}.`);
        return undefined;
      }
      pem = bytes.toString('utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      problems.push(
        code === 'ENOENT'
          ? `${where} names no file; set it to the PEM file with the certificate and its private key, or to the PEM text itself.`
          : `${where} cannot be read (${code ?? 'error'}).`,
      );
      return undefined;
    }
  }
  const certificate = readClientCertificate(pem);
  if ('problem' in certificate) {
    problems.push(`${where} ${certificate.problem}.`);
    return undefined;
  }
  return certificate;
}

/** Whether `raw` is base64 (whitespace allowed) long enough to hold a key, rather than a path. */
function looksLikeBase64(raw: string): boolean {
  const compact = raw.replace(/\s+/g, '');
  return compact.length >= 64 && /^[A-Za-z0-9+/]+={0,2}$/.test(compact);
}

/** PEM text from its base64 encoding, or undefined when `raw` is not that. */
function pemInBase64(raw: string): string | undefined {
  if (!looksLikeBase64(raw)) return undefined;
  const text = Buffer.from(raw.replace(/\s+/g, ''), 'base64').toString('utf8');
  return text.includes('-----BEGIN') ? text : undefined;
}
