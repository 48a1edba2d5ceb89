import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

// `photosync serve` in a process of its own, for tests where the process is the point: its
// thread pool, its memory (read from /proc), its metrics. Talk to it with fetch and a cookie jar.

const BIN = fileURLToPath(new URL('../../bin/photosync.js', import.meta.url));

export interface ServeProcess {
  url: string;
  pid: number;
  /** Peak resident memory of the server so far, in MB (VmHWM). */
  peakRssMb(): Promise<number>;
  /** The sum of a metric's samples whose labels include `labels` (e.g. `{ reason: 'busy' }`). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  output(): string;
  stop(): Promise<void>;
}

export async function startServe(env: Record<string, string>): Promise<ServeProcess> {
  const child: ChildProcess = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: '0',
      PHOTOSYNC_DEMO: 'false',
      PHOTOSYNC_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /running at (http:\/\/\S+)/.exec(output);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.once('exit', (code) => reject(new Error(`photosync serve exited with ${code}:\n${output}`)));
  });
  return {
    url,
    pid: child.pid!,
    async peakRssMb() {
      const status = await fs.readFile(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
    },
    async metric(name, labels = {}) {
      const text = await (await fetch(`${url}/metrics`)).text();
      let total = 0;
      for (const line of text.split('\n')) {
        const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
        if (match?.[1] !== name) continue;
        const has = Object.entries(labels).every(([key, value]) => match[2]?.includes(`${key}="${value}"`));
        if (has) total += Number(match[3]);
      }
      return total;
    },
    output: () => output,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** A signed-in browser over real HTTP: a cookie jar, the form token, sign-in and the photo form. */
export function httpBrowser(baseUrl: string) {
  const cookies = new Map<string, string>();
  const cookieHeader = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const request = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(baseUrl + path, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), cookie: cookieHeader() },
    });
    for (const setCookie of response.headers.getSetCookie()) {
      const [pair = ''] = setCookie.split(';');
      const at = pair.indexOf('=');
      cookies.set(pair.slice(0, at), pair.slice(at + 1));
    }
    return response;
  };
  const formToken = async (path: string) => {
    const page = await (await request(path)).text();
    const token = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
    if (!token) throw new Error(`no form token on ${path}`);
    return token;
  };
  return {
    request,
    async signIn(upn: string, password: string) {
      const body = new URLSearchParams({ upn, password, _csrf: await formToken('/signin') });
      const response = await request('/signin', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: body.toString(),
      });
      await response.arrayBuffer();
      return response;
    },
    /** "Add your profile photo": the multipart form of /profile-photo with its form token. */
    async uploadPhoto(photo: Buffer) {
      const form = new FormData();
      form.set('_csrf', await formToken('/profile-photo'));
      form.set('photo', new Blob([new Uint8Array(photo)], { type: 'image/jpeg' }), 'me.jpg');
      const response = await request('/profile-photo', { method: 'POST', body: form });
      await response.arrayBuffer();
      return response;
    },
  };
}
