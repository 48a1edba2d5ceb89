import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { createDevCertificates } from '../../src/cli/commands/dev-cert.js';
import type { TestStore } from './services.js';

// A real `photosync serve` over TLS, as an operator starts it after `photosync dev-cert`: the
// certificate comes from the test run's CA (test/global-setup.ts), which every test process
// trusts through NODE_EXTRA_CA_CERTS, so clients verify it like any certificate.

export const BIN = fileURLToPath(new URL('../../bin/photosync.js', import.meta.url));
/** Generous: a loaded machine takes a while to start a server (migrations, the demo organisation). */
const START_TIMEOUT_MS = 90_000;

export interface TlsServer {
  /** https://localhost:<port>, also the server's PHOTOSYNC_PUBLIC_URL. */
  baseUrl: string;
  host: string;
  port: number;
  certPath: string;
  keyPath: string;
  /** base64 SHA-256 of the certificate's key, for Chromium's --ignore-certificate-errors-spki-list. */
  spki: string;
  /** Settings for a child process (the CLI, an example) on the same server and store. */
  env: Record<string, string>;
  stdout(): string;
  stop(): Promise<void>;
}

/**
 * A port nobody listens on right now, then released: the OS picks one, or, with
 * PHOTOSYNC_TEST_PORTS=43000-43999, one of that range (a machine that shares its ports).
 */
export async function freePort(): Promise<number> {
  const range = /^(\d+)-(\d+)$/.exec(process.env.PHOTOSYNC_TEST_PORTS ?? '');
  if (!range) return probePort(0);
  const [low, high] = [Number(range[1]), Number(range[2])];
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    const free = await probePort(port).catch(() => undefined);
    if (free !== undefined) return free;
  }
  throw new Error(`No free port in PHOTOSYNC_TEST_PORTS=${process.env.PHOTOSYNC_TEST_PORTS}`);
}

function probePort(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(port, '127.0.0.1', () => {
      const { port: bound } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(bound));
    });
  });
}

/** The test run's environment without photosync, database or proxy settings of its own. */
export function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (name.startsWith('PHOTOSYNC_') || ['DATABASE_URL', 'PORT', 'HOST', 'NODE_ENV'].includes(name)) continue;
    // A proxy of the machine's would carry the tests' requests to localhost away: a test names its own.
    if (/^(https?|no|all)_proxy$/i.test(name)) continue;
    env[name] = value;
  }
  return env;
}

/** Resolves once `text` matches what the child printed so far; rejects if it exits first or takes too long. */
export function waitForOutput(child: ChildProcess, pattern: RegExp, output: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new Error(`no ${pattern} within ${START_TIMEOUT_MS} ms:\n${output()}`)),
      START_TIMEOUT_MS,
    );
    const check = () => {
      if (pattern.test(output())) finish();
    };
    const exited = (code: number | null) => finish(new Error(`exited (${code}) before ${pattern}:\n${output()}`));
    function finish(error?: Error) {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      child.off('exit', exited);
      if (error) reject(error);
      else resolve();
    }
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', exited);
    check();
  });
}

export async function startTlsServer(store: TestStore): Promise<TlsServer> {
  const dir = path.join(store.dataDir, 'tls');
  fs.mkdirSync(dir, { recursive: true });
  const ca = inject('testCaDir');
  for (const file of ['ca.pem', 'ca-key.pem']) fs.copyFileSync(path.join(ca, file), path.join(dir, file));
  const { cert, key } = createDevCertificates(dir);
  const port = await freePort();
  const baseUrl = `https://localhost:${port}`;
  const env = {
    ...cleanEnv(),
    ...store.env,
    PORT: String(port),
    PHOTOSYNC_PUBLIC_URL: baseUrl,
    PHOTOSYNC_TLS_CERT: cert,
    PHOTOSYNC_TLS_KEY: key,
    PHOTOSYNC_LOG_LEVEL: 'warn',
  };
  const child = spawn(process.execPath, [BIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForOutput(child, /photosync is running at[\s\S]*States: /, () => output);
  const spki = createHash('sha256')
    .update(new X509Certificate(fs.readFileSync(cert)).publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
  return {
    baseUrl,
    host: `localhost:${port}`,
    port,
    certPath: cert,
    keyPath: key,
    spki,
    env,
    stdout: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs a command to its end (the CLI, an example), with its output. */
export function run(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
