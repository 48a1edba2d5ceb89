import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, waitForOutput } from './tls-server.js';

// An outbound HTTP proxy in a process of its own (test/support/proxy-process.js), for connect mode's
// tests through a proxy:
//
//   const proxy = await startHttpProxy({ user: 'photosync', password: 's3cret' });  // beforeAll
//   proxy.url;                       // http://127.0.0.1:<port>, no credentials in it
//   proxy.urlWith('photosync', 's3cret');   // the same with user:password@, encoded
//   await proxy.counts();            // what went through it so far
//   await proxy.stop();              // afterAll

const SCRIPT = fileURLToPath(new URL('./proxy-process.js', import.meta.url));

export interface ProxyCounts {
  /** CONNECT tunnels opened (each https connection photosync made through the proxy). */
  tunnels: number;
  /** Absolute-URI requests forwarded (plain http through the proxy). */
  requests: number;
  /** Tunnels and requests taken and never answered (`stall`). */
  stalled: number;
  /** Requests and tunnels refused, by status. */
  refused: { 407: number; 403: number };
  /** Tunnels and requests carried, by `host:port`. */
  targets: Record<string, number>;
}

export interface HttpProxy {
  url: string;
  urlWith(user: string, password: string): string;
  counts(): Promise<ProxyCounts>;
  stop(): Promise<void>;
}

export interface HttpProxyOptions {
  /** Credentials it asks for (407 without them). */
  user?: string;
  password?: string;
  /** Hosts it refuses to connect to (403). */
  deny?: string[];
  /** Takes every tunnel's and request's connection and never answers, as a proxy that hangs. */
  stall?: boolean;
}

export async function startHttpProxy(options: HttpProxyOptions = {}): Promise<HttpProxy> {
  const port = await freePort();
  const child = spawn(process.execPath, [SCRIPT], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      PROXY_USER: options.user ?? '',
      PROXY_PASSWORD: options.password ?? '',
      PROXY_DENY: (options.deny ?? []).join(','),
      PROXY_STALL: options.stall ? '1' : '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForOutput(child, /listening on \d+/, () => output);
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    urlWith: (user, password) => `http://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    async counts() {
      return (await (await fetch(`${url}/counts`)).json()) as ProxyCounts;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
