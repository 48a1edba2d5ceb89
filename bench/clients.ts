import http from 'node:http';
import { createSession } from '../src/directory/credentials.js';
import type { DirectoryUser } from '../src/directory/users.js';
import type { BenchStore } from './fixtures.js';
import type { ServerProcess } from './support.js';

// How the benchmarks act as a user's browser.

/**
 * The SharePoint tile as a signed-in browser clicks it on `server`: a session cookie, the form token
 * from the home page, then POST /launch/sharepoint; the outcome comes back in the redirect.
 */
export async function sharePointTile(store: BenchStore, server: ServerProcess, user: DirectoryUser) {
  const session = await createSession(store.services.database.db, user.id, 3_600_000);
  const cookies = new Map([['photosync_session', session]]);
  const cookieHeader = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const home = await fetch(`${server.url}/`, { headers: { cookie: cookieHeader() }, redirect: 'manual' });
  for (const c of home.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const at = pair!.indexOf('=');
    cookies.set(pair!.slice(0, at), pair!.slice(at + 1));
  }
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await home.text())?.[1];
  if (!csrf) throw new Error(`no form token on the home page (status ${home.status})`);
  return async (): Promise<string> => {
    const response = await fetch(`${server.url}/launch/sharepoint`, {
      method: 'POST',
      headers: { cookie: cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf }).toString(),
      redirect: 'manual',
    });
    await response.arrayBuffer();
    return response.headers.get('x-photosync-sync') ?? `status ${response.status}`;
  };
}

const keptAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });

/**
 * A GET as a browser sends a repeated one, over one connection kept open (fetch() keeps its own
 * open too), written and read by Node's own HTTP module: it spends less of the bench process's CPU
 * per request than fetch() (undici), so that a sub-millisecond answer is timed more than the client is. Answers the status and the
 * headers, with the body read to its end.
 */
export function keptAliveGet(url: string, headers: Record<string, string>): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: keptAlive, headers }, (response) => {
        response.resume();
        response.once('end', () => resolve(response));
        response.once('error', reject);
      })
      .once('error', reject);
  });
}
