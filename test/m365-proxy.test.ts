import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MSAL_ANSWER_WITHIN_MS, msalNetworkClient, tenantFetch } from '../src/m365/network.js';
import { readOutboundProxy, ThroughProxyError } from '../src/m365/proxy.js';
import type { M365Settings } from '../src/m365/settings.js';
import { explainTokenError, networkProblem } from '../src/m365/token-errors.js';
import { startHttpProxy, type HttpProxy } from './support/http-proxy.js';
import { checkLines, startM365Tenant, type M365Tenant, type RegisteredApp } from './support/m365-tenant.js';
import { freePort } from './support/tls-server.js';

// Connect mode on a server that reaches the internet only through an HTTP proxy: photosync playing
// the tenant, a real proxy process in front of it (test/support/proxy-process.js, which counts the
// tunnels it opened), and photosync in connect mode with HTTPS_PROXY, HTTP_PROXY and NO_PROXY as an
// administrator sets them. Every request of a command goes through the one dispatcher, MSAL's
// token requests included, so a scan or a push through the proxy is counted there, NO_PROXY
// takes it past the proxy, and a proxy that refuses is named in words with the variable to check.

const USER = 'photosync';
// Characters that must be percent-encoded in the URL, to show they are decoded before they are sent.
const PASSWORD = 'p@ss:w/rd#1';

describe('connect mode through an outbound proxy', () => {
  let tenant: M365Tenant;
  let app: RegisteredApp;
  let proxy: HttpProxy;
  let tenantHost: string;
  beforeAll(async () => {
    [tenant, proxy] = await Promise.all([startM365Tenant(), startHttpProxy({ user: USER, password: PASSWORD })]);
    app = await tenant.registerApp();
    tenantHost = new URL(tenant.url).host;
  }, 90_000);
  afterAll(async () => {
    await Promise.all([tenant?.stop(), proxy?.stop()]);
  });

  it(
    'checks, scans and pushes through the proxy with its credentials, and names the proxy without its password',
    { timeout: 120_000 },
    async () => {
      const connect = tenant.connect(app, { HTTPS_PROXY: proxy.urlWith(USER, PASSWORD) });
      const before = await proxy.counts();

      const check = await connect.m365(['check']);
      expect(check.code, check.stdout + check.stderr).toBe(0);
      const lines = checkLines(check.stdout);
      const port = new URL(proxy.url).port;
      expect(lines['outbound proxy']).toBe(
        `✓ outbound proxy: http://${USER}:[removed]@127.0.0.1:${port} (HTTPS_PROXY), for every address of the tenant`,
      );
      const afterCheck = await proxy.counts();
      expect(afterCheck.tunnels).toBeGreaterThan(before.tunnels);

      const scan = await connect.m365(['scan', '--json']);
      expect(scan.code, scan.stderr).toBe(0);
      const users = (JSON.parse(scan.stdout) as { users: { upn: string; state: string }[] }).users;
      expect(Object.fromEntries(users.map((u) => [u.upn, u.state]))).toMatchObject({
        'jane@contoso.com': 'never_synced',
        'lee@contoso.com': 'no_mailbox',
      });
      const afterScan = await proxy.counts();
      expect(afterScan.tunnels).toBeGreaterThan(afterCheck.tunnels);

      const push = await connect.m365(['sync', 'jane@contoso.com']);
      expect(push.stdout, push.stderr).toMatch(/^jane@contoso\.com: pushed /);
      expect(push.code).toBe(0);
      const afterPush = await proxy.counts();
      expect(afterPush.tunnels).toBeGreaterThan(afterScan.tunnels);

      // Every tunnel went to the tenant, none was refused, and the password was never printed.
      expect(Object.keys(afterPush.targets)).toEqual([tenantHost]);
      expect(afterPush.refused).toEqual(before.refused);
      for (const output of [check, scan, push]) {
        expect(output.stdout + output.stderr).not.toContain(PASSWORD);
        expect(output.stdout + output.stderr).not.toContain(encodeURIComponent(PASSWORD));
      }
    },
  );

  it(
    'goes past the proxy to the hosts NO_PROXY names, and through it with the lower-case forms',
    { timeout: 120_000 },
    async () => {
      const bypass = tenant.connect(app, { HTTPS_PROXY: proxy.urlWith(USER, PASSWORD), NO_PROXY: 'localhost' });
      const before = await proxy.counts();
      const check = await bypass.m365(['check']);
      expect(check.code, check.stdout + check.stderr).toBe(0);
      expect(checkLines(check.stdout)['outbound proxy']).toMatch(
        /^✓ outbound proxy: none: NO_PROXY exempts every address of the tenant from http:\/\/photosync:\[removed\]@127\.0\.0\.1:\d+ \(HTTPS_PROXY\)$/,
      );
      const scan = await bypass.m365(['scan', '--json']);
      expect(scan.code, scan.stderr).toBe(0);
      expect(await proxy.counts()).toEqual(before);

      // http_proxy alone serves https addresses too; no_proxy for another port of localhost leaves the tenant's to it.
      const lower = tenant.connect(app, { http_proxy: proxy.urlWith(USER, PASSWORD), no_proxy: 'localhost:1' });
      const through = await lower.m365(['check']);
      expect(through.code, through.stdout + through.stderr).toBe(0);
      expect(checkLines(through.stdout)['outbound proxy']).toMatch(/\(http_proxy\), for every address of the tenant$/);
      expect((await proxy.counts()).tunnels).toBeGreaterThan(before.tunnels);
    },
  );

  it('says in words that the proxy asks for credentials, or refuses them (407)', { timeout: 120_000 }, async () => {
    const [without, wrong] = await Promise.all([
      tenant.connect(app, { HTTPS_PROXY: proxy.url }).m365(['check']),
      tenant.connect(app, { HTTPS_PROXY: proxy.urlWith(USER, 'not-the-password') }).m365(['check']),
    ]);
    expect(without.code).toBe(1);
    const asked = checkLines(without.stdout);
    expect(asked['clock matches Entra ID']).toMatch(
      /^✗ .*the proxy http:\/\/127\.0\.0\.1:\d+ \(HTTPS_PROXY\) asks for a user name and password \(407 Proxy Authentication Required\)\. Put the proxy's user name and password in HTTPS_PROXY/,
    );
    expect(asked['token for Microsoft Graph']).toMatch(
      /^✗ token for Microsoft Graph .*: No token for .*asks for a user name and password \(407 .*written user:password@ before the proxy's host \(127\.0\.0\.1:\d+\)\.$/,
    );

    expect(wrong.code).toBe(1);
    const refused = checkLines(wrong.stdout);
    expect(refused['token for Microsoft Graph']).toMatch(
      /^✗ .*the proxy http:\/\/photosync:\[removed\]@127\.0\.0\.1:\d+ \(HTTPS_PROXY\) refused the user name and password in HTTPS_PROXY \(407 Proxy Authentication Required\)\. Check the user name and password in HTTPS_PROXY/,
    );
    expect(wrong.stdout + wrong.stderr).not.toContain('not-the-password');
    for (const output of [without, wrong])
      expect(output.stdout + output.stderr).not.toMatch(/undici|UND_ERR|fetch failed/i);

    // A push stops at the first refusal, saying the same.
    const push = await tenant.connect(app, { HTTPS_PROXY: proxy.url }).m365(['sync', 'jane@contoso.com']);
    expect(push.code).not.toBe(0);
    expect(push.stdout + push.stderr).toMatch(
      /asks for a user name and password \(407 Proxy Authentication Required\)/,
    );
  });

  it('says in words that the proxy refuses the tenant (403)', { timeout: 120_000 }, async () => {
    const strict = await startHttpProxy({ deny: ['localhost'] });
    try {
      const check = await tenant.connect(app, { HTTPS_PROXY: strict.url }).m365(['check']);
      expect(check.code).toBe(1);
      expect(checkLines(check.stdout)['clock matches Entra ID']).toMatch(
        /^✗ .*the proxy http:\/\/127\.0\.0\.1:\d+ \(HTTPS_PROXY\) refused to connect to it \(403 Forbidden\)\. Ask the proxy's administrators to let this machine reach localhost:\d+, or name that host in NO_PROXY/,
      );
      expect((await strict.counts()).refused[403]).toBeGreaterThan(0);
    } finally {
      await strict.stop();
    }
  });

  it('says in words that nothing answers at the proxy', { timeout: 120_000 }, async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const connect = tenant.connect(app, { HTTPS_PROXY: nowhere });
    const check = await connect.m365(['check']);
    expect(check.code).toBe(1);
    const lines = checkLines(check.stdout);
    const said = new RegExp(
      `nothing answers at the proxy ${nowhere.replace(/\./g, '\\.')} \\(HTTPS_PROXY\\)\\. Check HTTPS_PROXY: the proxy's host name and port`,
    );
    expect(lines['clock matches Entra ID']).toMatch(said);
    expect(lines['token for Microsoft Graph']).toMatch(said);
    const scan = await connect.m365(['scan']);
    expect(scan.code).not.toBe(0);
    expect(scan.stdout + scan.stderr).toMatch(said);
  });
});

// What connect mode's requests do when an answer does not come in time, through a proxy: a slow
// host behind a working proxy is the host's, and a proxy that hangs does not hold a token request
// (and every Graph and SharePoint request waiting on its token) for minutes.
describe('deadlines through an outbound proxy', () => {
  let silent: net.Server;
  let silentUrl: string;
  const held = new Set<net.Socket>();
  beforeAll(async () => {
    // A host that takes the connection and never answers, as a Graph or SharePoint that is slow.
    silent = net.createServer((socket) => {
      held.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentUrl = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => silent?.close(resolve));
  });

  /** Settings whose only part the network module reads: the proxy, from these variables. */
  const settingsWith = (env: Record<string, string>): M365Settings => {
    const problems: string[] = [];
    const proxy = readOutboundProxy(env, problems);
    expect(problems).toEqual([]);
    return { proxy, authorityHost: silentUrl, tenant: 'contoso.onmicrosoft.com' } as M365Settings;
  };

  it('tells a host that did not answer in time through a working proxy as the host, not the proxy', async () => {
    const proxy = await startHttpProxy();
    try {
      const settings = settingsWith({ HTTP_PROXY: proxy.url });
      const error = await tenantFetch(settings, `${silentUrl}/v1.0/users`, { signal: AbortSignal.timeout(300) }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ name: 'TimeoutError' });
      expect(error).not.toBeInstanceOf(ThroughProxyError);
      const problem = networkProblem(error);
      expect(problem).toMatchObject({ problem: 'unreachable', what: 'nothing answers' });
      expect(problem?.proxy).toBeUndefined();
      expect(problem?.fix(silentUrl, 'PHOTOSYNC_M365_GRAPH_URL')).not.toMatch(/HTTP_PROXY/);
      // It did go through the proxy, which carried it.
      expect((await proxy.counts()).targets).toEqual({ [new URL(silentUrl).host]: 1 });
    } finally {
      await proxy.stop();
    }
  });

  it('ends a token request a hanging proxy holds, and says it got no answer in so many seconds', async () => {
    expect(MSAL_ANSWER_WITHIN_MS).toBe(30_000);
    const proxy = await startHttpProxy({ stall: true });
    try {
      const settings = settingsWith({ HTTP_PROXY: proxy.url });
      const network = await msalNetworkClient(settings, 300);
      const started = Date.now();
      const error = await network
        .sendPostRequestAsync(`${silentUrl}/contoso.onmicrosoft.com/oauth2/v2.0/token`, { body: 'grant_type=x' })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(error).toHaveProperty('noAnswer', `the token request to ${silentUrl} got no answer in 0.3 s`);
      const told = explainTokenError(error, settings, 'https://graph.microsoft.com/.default');
      expect(told).toMatchObject({
        problem: 'unreachable',
        what: `No token for https://graph.microsoft.com/.default: the token request to ${silentUrl} got no answer in 0.3 s.`,
      });
      // A GET MSAL gives a longer timeout keeps the deadline too.
      const get = await network.sendGetRequestAsync(`${silentUrl}/common/discovery/instance`, {}, 60_000).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(get).toHaveProperty('noAnswer', `the request to ${silentUrl} got no answer in 0.3 s`);
      expect((await proxy.counts()).stalled).toBe(2);
    } finally {
      await proxy.stop();
    }
  });
});
