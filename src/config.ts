import { X509Certificate, createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { DEFAULT_QUEUE_LIMITS, type ImageQueueLimits } from './media/image-queue.js';
import { parseGraphAppLimit, type GraphAppLimit } from './graph/throttle.js';
import { M365_SETTING_NAMES, readM365Settings, type M365Settings } from './m365/settings.js';

/** Site rendition sides in pixels. SharePoint 2013+ uses 48/72/300; older tools used 200 for L. */
export interface RenditionSizes {
  S: number;
  M: number;
  L: number;
}

export interface Config {
  dataDir: string;
  /** postgres://… moves every table and the photo bytes into PostgreSQL; unset = SQLite + files. */
  databaseUrl: string | undefined;
  host: string;
  port: number;
  /** Base for absolute URLs such as PictureURL. */
  publicUrl: string;
  renditionSizes: RenditionSizes;
  /** Like SharePoint's UserPhotoExpiration: a photo checked this recently is not checked again. */
  recheckSeconds: number;
  /** Like SharePoint's UserPhotoErrorExpiration: how long a failed sync waits before retrying. */
  errorBackoffSeconds: number;
  /** Sync attempts last checked longer ago than this are purged in the background; 0 = kept for ever. */
  historyRetentionDays: number;
  /** The sweeper removes unreferenced blobs only when written longer ago than this. */
  blobSweepMinAgeMinutes: number;
  seedDemo: boolean;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Test-only fault injection inside a sync; refused unless NODE_ENV=test or explicitly allowed. */
  faultInjection: string | undefined;
  /** smtp(s)://… enables the admin console's prompt e-mails; unset = banner only. */
  smtpUrl: string | undefined;
  /** Default sender of prompt e-mails (an admin setting may override it). */
  mailFrom: string;
  /** Tries of one prompt e-mail before it is failed, and the wait after the first failed try. */
  mailMaxTries: number;
  mailRetrySeconds: number;
  /** PEM certificate (chain) and key: `photosync serve` speaks https itself; unset = http. */
  tls: TlsFiles | undefined;
  /** The image queue: decodes at once, waiting line, memory of large decodes, deadline. */
  imageQueue: ImageQueueLimits;
  /** Connect mode: the Microsoft 365 tenant photosync reads and writes; undefined = none. */
  m365: M365Settings | undefined;
  /** Graph's throttling of each app (PHOTOSYNC_GRAPH_APP_LIMIT); undefined = none. */
  graphAppLimit: GraphAppLimit | undefined;
  /** The bearer token `/metrics` asks for (PHOTOSYNC_METRICS_TOKEN); undefined = anyone who reaches the port. */
  metricsToken: string | undefined;
  /** How long a client may take to send a request: its headers, and the whole request with its body. */
  deadlines: RequestDeadlines;
  /**
   * The reverse proxies whose X-Forwarded-For is believed (addresses, CIDRs, or `loopback`,
   * `linklocal`, `uniquelocal`); undefined = none, the peer's address is the client's.
   */
  trustProxy: string[] | undefined;
}

export interface RequestDeadlines {
  /** Node's `headersTimeout`: the request line and headers must have arrived by then. */
  headersSeconds: number;
  /** Node's `requestTimeout`: the whole request, body included (an upload of 5 MB at most). */
  requestSeconds: number;
}

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  certPath: string;
  keyPath: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const KNOWN_PHOTOSYNC_VARS = new Set([
  'PHOTOSYNC_DATA_DIR',
  'PHOTOSYNC_TRUST_PROXY',
  'PHOTOSYNC_PUBLIC_URL',
  'PHOTOSYNC_RENDITION_SIZES',
  'PHOTOSYNC_RECHECK_SECONDS',
  'PHOTOSYNC_ERROR_BACKOFF_SECONDS',
  'PHOTOSYNC_HISTORY_RETENTION_DAYS',
  'PHOTOSYNC_BLOB_SWEEP_MIN_AGE_MINUTES',
  'PHOTOSYNC_DEMO',
  'PHOTOSYNC_LOG_LEVEL',
  'PHOTOSYNC_FAULT_INJECTION',
  'PHOTOSYNC_MAIL_FROM',
  'PHOTOSYNC_MAIL_MAX_TRIES',
  'PHOTOSYNC_MAIL_RETRY_SECONDS',
  'PHOTOSYNC_TLS_CERT',
  'PHOTOSYNC_TLS_KEY',
  'PHOTOSYNC_IMAGE_CONCURRENCY',
  'PHOTOSYNC_IMAGE_QUEUE',
  'PHOTOSYNC_IMAGE_MEMORY_MB',
  'PHOTOSYNC_IMAGE_DEADLINE_SECONDS',
  'PHOTOSYNC_HEADERS_TIMEOUT_SECONDS',
  'PHOTOSYNC_REQUEST_TIMEOUT_SECONDS',
  'PHOTOSYNC_TEST_DATABASE_URL',
  'PHOTOSYNC_REQUIRE_POSTGRES',
  'PHOTOSYNC_REQUIRE_CHROMIUM',
  'PHOTOSYNC_GRAPH_APP_LIMIT',
  'PHOTOSYNC_METRICS_TOKEN',
  ...M365_SETTING_NAMES,
]);

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Reads and validates the whole configuration at once, so every mistake is reported together. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const problems: string[] = [];

  for (const name of Object.keys(env)) {
    if (name.startsWith('PHOTOSYNC_') && !KNOWN_PHOTOSYNC_VARS.has(name)) {
      problems.push(`${name} is not a photosync setting (check the spelling; see README.md).`);
    }
  }

  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const value = Number(raw);
    if (!/^\s*\d+\s*$/.test(raw) || value < min || value > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max}, got "${raw}".`);
      return fallback;
    }
    return value;
  };

  /** Seconds, whole or with a fraction (0.5). */
  const seconds = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const value = Number(raw);
    if (!/^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(raw) || value < min || value > max) {
      problems.push(`${name} must be a number of seconds from ${min} to ${max}, got "${raw}".`);
      return fallback;
    }
    return value;
  };

  const boolean = (name: string, fallback: boolean): boolean => {
    const raw = env[name]?.trim().toLowerCase();
    if (raw === undefined || raw === '') return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    problems.push(`${name} must be true or false, got "${env[name]}".`);
    return fallback;
  };

  const port = integer('PORT', 8080, 0, 65535);
  const host = env.HOST?.trim() || '127.0.0.1';

  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must start with postgres:// or postgresql:// (leave it unset for SQLite).');
  }

  const tls = readTls(env, cwd, problems);
  const publicUrl = publicUrlOf(env, { tls: tls !== undefined, port });
  if (tls && publicUrl.startsWith('http:')) {
    problems.push(`PHOTOSYNC_PUBLIC_URL is ${publicUrl}, but with PHOTOSYNC_TLS_CERT the server speaks https only.`);
  }
  try {
    const url = new URL(publicUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
  } catch {
    problems.push(`PHOTOSYNC_PUBLIC_URL must be an http(s) URL, got "${publicUrl}".`);
  }

  const renditionSizes = parseRenditionSizes(env.PHOTOSYNC_RENDITION_SIZES, problems);

  const logLevel = (env.PHOTOSYNC_LOG_LEVEL?.trim() || 'info') as Config['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`PHOTOSYNC_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}".`);
  }

  const faultInjection = env.PHOTOSYNC_FAULT_INJECTION?.trim() || undefined;
  if (faultInjection !== undefined && env.NODE_ENV !== 'test') {
    problems.push('PHOTOSYNC_FAULT_INJECTION is for tests only and needs NODE_ENV=test.');
  }

  const smtpUrl = env.SMTP_URL?.trim() || undefined;
  if (smtpUrl !== undefined) {
    const problem = smtpUrlProblem(smtpUrl);
    if (problem) problems.push(`SMTP_URL ${problem}, got "${withoutPassword(smtpUrl)}".`);
  }
  const mailFrom = env.PHOTOSYNC_MAIL_FROM?.trim() || 'photosync@localhost';
  if (!/^[^\s@<>"]+@[^\s@<>"]+$/.test(mailFrom)) {
    problems.push(`PHOTOSYNC_MAIL_FROM must be an e-mail address, got "${mailFrom}".`);
  }

  const imageQueue = parseImageQueue(env, integer, seconds, problems);
  const deadlines: RequestDeadlines = {
    headersSeconds: integer('PHOTOSYNC_HEADERS_TIMEOUT_SECONDS', 10, 1, 3600),
    requestSeconds: integer('PHOTOSYNC_REQUEST_TIMEOUT_SECONDS', 60, 1, 3600),
  };
  if (deadlines.headersSeconds > deadlines.requestSeconds) {
    problems.push(
      `PHOTOSYNC_HEADERS_TIMEOUT_SECONDS (${deadlines.headersSeconds}) must not be longer than ` +
        `PHOTOSYNC_REQUEST_TIMEOUT_SECONDS (${deadlines.requestSeconds}): the headers are part of the request.`,
    );
  }
  const m365 = readM365Settings(env, cwd, problems);
  const trustProxy = parseTrustProxy(env.PHOTOSYNC_TRUST_PROXY, problems);

  const config: Config = {
    trustProxy,
    dataDir: path.resolve(cwd, env.PHOTOSYNC_DATA_DIR?.trim() || 'data'),
    databaseUrl,
    host,
    port,
    publicUrl,
    renditionSizes,
    recheckSeconds: integer('PHOTOSYNC_RECHECK_SECONDS', 0, 0, 7 * 24 * 3600),
    errorBackoffSeconds: integer('PHOTOSYNC_ERROR_BACKOFF_SECONDS', 300, 0, 7 * 24 * 3600),
    historyRetentionDays: integer('PHOTOSYNC_HISTORY_RETENTION_DAYS', 400, 0, 100 * 366),
    blobSweepMinAgeMinutes: integer('PHOTOSYNC_BLOB_SWEEP_MIN_AGE_MINUTES', 60, 0, 365 * 24 * 60),
    seedDemo: boolean('PHOTOSYNC_DEMO', true),
    logLevel,
    faultInjection,
    smtpUrl,
    mailFrom,
    mailMaxTries: integer('PHOTOSYNC_MAIL_MAX_TRIES', 8, 1, 100),
    mailRetrySeconds: integer('PHOTOSYNC_MAIL_RETRY_SECONDS', 30, 1, 24 * 3600),
    tls,
    imageQueue,
    m365,
    graphAppLimit: parseGraphAppLimit(env.PHOTOSYNC_GRAPH_APP_LIMIT, problems),
    metricsToken: parseMetricsToken(env.PHOTOSYNC_METRICS_TOKEN, problems),
    deadlines,
  };

  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * `PHOTOSYNC_METRICS_TOKEN`: what Prometheus sends as its bearer token (`authorization` in a scrape
 * config). Long enough not to be guessed, and only characters a bearer token may hold (RFC 6750).
 */
function parseMetricsToken(raw: string | undefined, problems: string[]): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  const token = raw.trim();
  if (token.length < 20 || !/^[A-Za-z0-9\-._~+/]+=*$/.test(token)) {
    problems.push(
      'PHOTOSYNC_METRICS_TOKEN must be at least 20 characters of letters, digits and - . _ ~ + / ' +
        '(for example the output of `openssl rand -hex 24`).',
    );
    return undefined;
  }
  return token;
}

/** The names proxy-addr knows for whole ranges. */
const PROXY_RANGES = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * `PHOTOSYNC_TRUST_PROXY`: a comma list of the proxies in front of photosync. Only a request that
 * arrives from one of them has its X-Forwarded-For believed; anyone else could write that header.
 */
/**
 * What is wrong with SMTP_URL, or undefined. nodemailer reads it as a URL when the first e-mail
 * goes out, so one it cannot read must stop the start instead of failing every e-mail later.
 */
function smtpUrlProblem(raw: string): string | undefined {
  const shape = 'must look like smtp://host:port or smtps://user:password@host:port';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `${shape}, with # ? / @ and % in the user name or password written as %23 %3F %2F %40 %25`;
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') return shape;
  if (url.hostname === '') return `${shape}: it names no host`;
  return undefined;
}

/** A URL as it may be shown: its password, if it has one, left out. */
const withoutPassword = (raw: string) => raw.replace(/^([a-z]+:\/\/[^:/@]*:).*@/i, '$1…@');

function parseTrustProxy(raw: string | undefined, problems: string[]): string[] | undefined {
  const entries = (raw ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) return undefined;
  const wrong = entries.filter((entry) => {
    if (PROXY_RANGES.includes(entry)) return false;
    const [address = '', bits, ...rest] = entry.split('/');
    const family = isIP(address);
    if (family === 0 || rest.length > 0) return true;
    if (bits === undefined) return false;
    const max = family === 4 ? 32 : 128;
    return !/^\d{1,3}$/.test(bits) || Number(bits) > max;
  });
  if (wrong.length > 0) {
    problems.push(
      `PHOTOSYNC_TRUST_PROXY must list the proxies' addresses or CIDRs (e.g. 127.0.0.1,10.0.0.0/8) or loopback, ` +
        `linklocal, uniquelocal; ${wrong.map((w) => `"${w}"`).join(', ')} ${wrong.length === 1 ? 'is' : 'are'} not one.`,
    );
    return undefined;
  }
  return entries;
}

/**
 * The base of every absolute URL the server and the command line print or put in answers:
 * PHOTOSYNC_PUBLIC_URL when set, else this machine at the port served (https with a certificate).
 * `port` is the one listened on: PORT, or the one the system gave for PORT=0.
 */
export function publicUrlOf(env: NodeJS.ProcessEnv, served: { tls: boolean; port: number }): string {
  const scheme = served.tls ? 'https' : 'http';
  return (env.PHOTOSYNC_PUBLIC_URL?.trim() || `${scheme}://localhost:${served.port}`).replace(/\/+$/, '');
}

function parseRenditionSizes(raw: string | undefined, problems: string[]): RenditionSizes {
  const fallback: RenditionSizes = { S: 48, M: 72, L: 300 };
  if (raw === undefined || raw.trim() === '') return fallback;
  const parts = raw.split(',').map((p) => Number(p.trim()));
  const [S, M, L] = parts;
  const valid =
    parts.length === 3 &&
    parts.every((n) => Number.isInteger(n) && n >= 16 && n <= 648) &&
    S !== undefined &&
    M !== undefined &&
    L !== undefined &&
    S < M &&
    M < L;
  if (!valid) {
    problems.push(
      `PHOTOSYNC_RENDITION_SIZES must be three increasing sides in pixels (16–648) for S,M,L, e.g. "48,72,300"; got "${raw}".`,
    );
    return fallback;
  }
  return { S, M, L };
}

/**
 * The TLS certificate and key: both or neither, readable, PEM, a key that belongs to the
 * certificate, and a certificate that is valid today. Checked at start-up, so a wrong file stops
 * the server with a sentence instead of failing the first handshake.
 */
function readTls(env: NodeJS.ProcessEnv, cwd: string, problems: string[]): TlsFiles | undefined {
  const certSetting = env.PHOTOSYNC_TLS_CERT?.trim() || undefined;
  const keySetting = env.PHOTOSYNC_TLS_KEY?.trim() || undefined;
  if (certSetting === undefined && keySetting === undefined) return undefined;
  if (certSetting === undefined || keySetting === undefined) {
    problems.push('Set both PHOTOSYNC_TLS_CERT and PHOTOSYNC_TLS_KEY (PEM files), or neither for plain http.');
    return undefined;
  }
  const certPath = path.resolve(cwd, certSetting);
  const keyPath = path.resolve(cwd, keySetting);
  const read = (name: string, file: string): Buffer | undefined => {
    try {
      return fs.readFileSync(file);
    } catch (error) {
      problems.push(
        `${name} cannot be read at ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`,
      );
      return undefined;
    }
  };
  const cert = read('PHOTOSYNC_TLS_CERT', certPath);
  const key = read('PHOTOSYNC_TLS_KEY', keyPath);
  if (!cert || !key) return undefined;
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    problems.push(`PHOTOSYNC_TLS_CERT (${certPath}) is not a PEM certificate.`);
    return undefined;
  }
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(key))) {
      problems.push(`PHOTOSYNC_TLS_KEY (${keyPath}) is not the key of the certificate in PHOTOSYNC_TLS_CERT.`);
    }
  } catch {
    problems.push(`PHOTOSYNC_TLS_KEY (${keyPath}) is not a PEM private key (an encrypted key is not supported).`);
  }
  const now = Date.now();
  if (Date.parse(certificate.validTo) <= now) {
    problems.push(`The certificate in PHOTOSYNC_TLS_CERT expired on ${certificate.validTo}.`);
  } else if (Date.parse(certificate.validFrom) > now) {
    problems.push(`The certificate in PHOTOSYNC_TLS_CERT is not valid before ${certificate.validFrom}.`);
  }
  return { cert, key, certPath, keyPath };
}

/**
 * Image work must leave threads of libuv's pool free for argon2 and file reads, so it runs fewer
 * jobs at once than the pool has threads (UV_THREADPOOL_SIZE, 4 unless set before start-up).
 */
function parseImageQueue(
  env: NodeJS.ProcessEnv,
  integer: (name: string, fallback: number, min: number, max: number) => number,
  seconds: (name: string, fallback: number, min: number, max: number) => number,
  problems: string[],
): ImageQueueLimits {
  const defaults = DEFAULT_QUEUE_LIMITS;
  const poolSize = Math.min(1024, Math.max(1, Number(env.UV_THREADPOOL_SIZE) || 4));
  const concurrency = integer('PHOTOSYNC_IMAGE_CONCURRENCY', defaults.concurrency, 0, 1024);
  if (concurrency >= poolSize) {
    problems.push(
      `PHOTOSYNC_IMAGE_CONCURRENCY must be below libuv's thread pool size (UV_THREADPOOL_SIZE, now ${poolSize}), ` +
        `so sign-in and file reads always have a thread; got ${concurrency}. 0 turns the image queue off.`,
    );
  }
  return {
    concurrency,
    maxWaiting: integer('PHOTOSYNC_IMAGE_QUEUE', defaults.maxWaiting, 0, 100_000),
    memoryBytes: integer('PHOTOSYNC_IMAGE_MEMORY_MB', defaults.memoryBytes / 2 ** 20, 64, 1_048_576) * 2 ** 20,
    deadlineSeconds: seconds('PHOTOSYNC_IMAGE_DEADLINE_SECONDS', defaults.deadlineSeconds, 0.1, 3600),
  };
}
