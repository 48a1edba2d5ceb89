import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { systemClock } from './clock.js';
import { describeError, scrub, TenantError } from './errors.js';
import type { M365Settings } from './settings.js';
import { runBatched } from './batch.js';
import { graphBatchSender } from './graph.js';
import { createTenantHttp } from './tenant-http.js';
import { makeTestCertificate } from './test-certificate.js';
import { createVirtualClock } from './test-clock.js';
import { explainTokenError } from './token-errors.js';

const TOKEN =
  'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20ifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ';

let settings: M365Settings;
let keyBody: string;
beforeAll(() => {
  const pem = makeTestCertificate();
  keyBody = pem.privateKey.split('\n')[1]!;
  settings = loadConfig(
    {
      PHOTOSYNC_M365_TENANT: 'contoso.onmicrosoft.com',
      PHOTOSYNC_M365_CLIENT_ID: '6731de76-14a6-49ae-97bc-6eba6914391e',
      PHOTOSYNC_M365_CERTIFICATE: pem.combined,
      PHOTOSYNC_M365_SHAREPOINT_URL: 'https://contoso.sharepoint.com',
    },
    '/',
  ).m365!;
});

const tokens = { token: async () => TOKEN };

describe('credentials never reach a message', () => {
  it('scrub removes tokens, assertions, PEM blocks and long base64', () => {
    const leaky = [
      `Authorization: Bearer ${TOKEN}`,
      `client_assertion=${TOKEN}&client_id=x`,
      `-----BEGIN PRIVATE KEY-----\n${keyBody}\n-----END PRIVATE KEY-----`,
      'x'.repeat(10) + 'A'.repeat(200),
    ].join(' | ');
    const clean = scrub(leaky);
    expect(clean).not.toContain(TOKEN.split('.')[1]!);
    expect(clean).not.toContain(keyBody);
    expect(clean).not.toMatch(/A{120}/);
    expect(clean).toContain('client_id=x');
  });

  it('an Entra refusal becomes the fix, without the assertion or key MSAL had', () => {
    const msalError = Object.assign(
      new Error(
        `invalid_client: Error(s): 700027 - AADSTS700027: Client assertion failed signature validation. ` +
          `client_assertion=${TOKEN} key ${keyBody} Trace ID: 0000aaaa Correlation ID: bbbb Timestamp: 2026-11-30 07:00:00Z`,
      ),
      { errorCode: 'invalid_client' },
    );
    const error = explainTokenError(msalError, settings, 'https://graph.microsoft.com/.default');
    expect(error).toBeInstanceOf(TenantError);
    expect(error.problem).toBe('certificate');
    expect(error.message).toContain('AADSTS700027');
    expect(error.message).toContain(settings.certificate.thumbprintSha256);
    for (const secret of [TOKEN, TOKEN.split('.')[1]!, keyBody, settings.certificate.privateKeyPem().split('\n')[1]!]) {
      expect(error.message).not.toContain(secret);
      expect(JSON.stringify(error)).not.toContain(secret);
    }
  });

  it.each([
    ['AADSTS700024: Client assertion is not within its valid time range.', 'clock'],
    ['AADSTS700016: Application with identifier … was not found in the directory', 'app'],
    ['AADSTS90002: Tenant … not found.', 'tenant'],
    ['AADSTS65001: The user or administrator has not consented', 'consent'],
    ['AADSTS500011: The resource principal named https://contoso-my.sharepoint.com was not found', 'wrong_url'],
    [
      'endpoints_resolution_error: See https://aka.ms/msal.js.errors#endpoints_resolution_error for details',
      'wrong_url',
    ],
  ])('%s → %s', (text, problem) => {
    expect(explainTokenError(new Error(text), settings, 'scope').problem).toBe(problem);
  });

  it('a connection failure names the setting to check and no token', async () => {
    const failing = createTenantHttp({
      settings,
      tokens,
      clock: createVirtualClock(),
      fetch: async () => {
        throw Object.assign(new TypeError(`fetch failed (Authorization: Bearer ${TOKEN})`), {
          cause: Object.assign(new Error('getaddrinfo ENOTFOUND contoso-my.sharepoint.com'), { code: 'ENOTFOUND' }),
        });
      },
    });
    const error = await failing
      .request('mysite', 'https://contoso-my.sharepoint.com/_api/web')
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ problem: 'wrong_url' });
    expect((error as Error).message).toMatch(/PHOTOSYNC_M365_MYSITE_URL/);
    expect(describeError(error)).not.toContain(TOKEN);
  });
});

/** What fetch throws when the DNS server does not answer for now. */
const dnsNotAnswering = () =>
  Object.assign(new TypeError('fetch failed'), {
    cause: Object.assign(new Error('getaddrinfo EAI_AGAIN graph.microsoft.com'), { code: 'EAI_AGAIN' }),
  });

describe('a DNS server that does not answer for now (EAI_AGAIN)', () => {
  it('is tried again, and told as a network problem, not as a wrong address', async () => {
    const clock = createVirtualClock();
    let tries = 0;
    const flaky = createTenantHttp({
      settings,
      tokens,
      clock,
      fetch: async () => {
        tries += 1;
        if (tries < 3) {
          throw dnsNotAnswering();
        }
        return new Response('{}', { status: 200 });
      },
    });
    const response = await clock.run(() => flaky.request('graph', 'https://graph.microsoft.com/v1.0/users'));
    expect([response.status, tries]).toEqual([200, 3]);

    let downTries = 0;
    const down = createTenantHttp({
      settings,
      tokens,
      clock,
      fetch: async () => {
        downTries += 1;
        throw dnsNotAnswering();
      },
    });
    const error = await clock.run(() =>
      down.request('graph', 'https://graph.microsoft.com/v1.0/users').catch((e: unknown) => e),
    );
    expect(error).toMatchObject({ problem: 'unreachable' });
    expect((error as Error).message).toMatch(/DNS/);
    // A host not reached is tried three times, 1 s and 2 s apart: told in seconds at a tile.
    expect(downTries).toBe(3);
  });
});

describe('createTenantHttp', () => {
  it('waits Retry-After after a 429 and sends the same request again', async () => {
    const clock = createVirtualClock();
    const start = clock.now();
    const seen: { at: number; auth: string | null }[] = [];
    const http = createTenantHttp({
      settings,
      tokens,
      clock,
      fetch: async (_url, init) => {
        seen.push({ at: clock.now() - start, auth: new Headers(init?.headers).get('authorization') });
        return seen.length === 1
          ? new Response('', { status: 429, headers: { 'Retry-After': '12' } })
          : new Response('{}', { status: 200 });
      },
    });
    const response = await clock.run(() => http.request('graph', 'https://graph.microsoft.com/v1.0/users'));
    expect(response.status).toBe(200);
    expect(seen).toEqual([
      { at: 0, auth: `Bearer ${TOKEN}` },
      { at: 12_000, auth: `Bearer ${TOKEN}` },
    ]);
  });

  it('sends a token only to the host of its audience', async () => {
    let sent = 0;
    const http = createTenantHttp({
      settings,
      tokens,
      clock: createVirtualClock(),
      fetch: async () => (sent++, new Response('')),
    });
    for (const [resource, url] of [
      ['graph', 'https://evil.example/v1.0/users'],
      ['mysite', 'https://contoso-admin.sharepoint.com/_api/web'],
      ['admin', 'https://contoso-my.sharepoint.com/_api/web'],
    ] as const) {
      await expect(http.request(resource, url)).rejects.toThrow(/Refused to send/);
    }
    expect(sent).toBe(0);
  });
});

describe('a tenant that never answers', () => {
  it('is given up on after each request’s deadline, tried again, and named as not answering', async () => {
    const server = http.createServer(() => {
      // Takes the request and says nothing.
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    let sent = 0;
    // The real clock: the deadline is real time (the one back-off between the two tries is 1 s).
    const clock = systemClock;
    const silent = createTenantHttp({
      settings: { ...settings, graphUrl: `http://127.0.0.1:${port}` },
      tokens,
      clock,
      maxAttempts: 2,
      requestTimeoutMs: 200,
      onRequest: () => sent++,
    });
    try {
      const error = await silent.request('graph', `http://127.0.0.1:${port}/v1.0/users`).catch((e: unknown) => e);
      expect(sent).toBe(2);
      expect(error).toMatchObject({ problem: 'unreachable' });
      expect((error as Error).message).toContain('nothing answers');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('a $batch Graph throttles as a whole', () => {
  it('is sent once per try, and the batch scheduler’s one pause holds back every batch', async () => {
    const clock = createVirtualClock();
    const posts: number[] = [];
    const http = createTenantHttp({
      settings,
      tokens,
      clock,
      fetch: async (_url, init) => {
        posts.push(clock.now());
        const { requests } = JSON.parse(String(init?.body)) as { requests: { id: string }[] };
        if (posts.length <= 2) {
          return new Response(JSON.stringify({ error: { code: 'TooManyRequests', message: 'Slow down.' } }), {
            status: 429,
            headers: { 'Retry-After': '30', 'content-type': 'application/json' },
          });
        }
        const responses = requests.map((r) => ({
          id: r.id,
          status: 200,
          headers: {},
          body: { '@odata.mediaEtag': '"E"' },
        }));
        return new Response(JSON.stringify({ responses }), {
          status: 200,
          headers: { 'content-type': 'application/json' },
        });
      },
    });
    const pauses: number[] = [];
    const requests = Array.from({ length: 20 }, (_, i) => ({
      id: String(i),
      method: 'GET' as const,
      url: `/users/u${i}/photo`,
    }));
    const run = await clock.run(() =>
      runBatched(requests, graphBatchSender(http, settings.graphUrl, clock.now), {
        clock,
        concurrency: 1,
        maxAttempts: 8,
        throttledForMs: 60_000,
        onThrottled: (ms) => pauses.push(ms),
      }),
    );
    expect([...run.results.values()].every((r) => r.kind === 'answered')).toBe(true);
    expect(posts).toHaveLength(3);
    expect(pauses).toEqual([30_000, 30_000]);
    expect(run.batchesSent).toBe(3);
  });
});

describe('a token the tenant refuses (401)', () => {
  it('is not used again: one more try with a fresh token, then the answer as it is', async () => {
    const clock = createVirtualClock();
    const asked: boolean[] = [];
    const sent: string[] = [];
    const fresh = {
      token: async (_resource: string, again?: boolean) => {
        asked.push(again === true);
        return again ? 'fresh-token' : 'kept-token';
      },
    };
    const http = createTenantHttp({
      settings,
      tokens: fresh,
      clock,
      fetch: async (_url, init) => {
        sent.push(new Headers(init?.headers).get('authorization') ?? '');
        return sent.length === 1 ? new Response('{}', { status: 401 }) : new Response('{}', { status: 200 });
      },
    });
    const ok = await clock.run(() => http.request('graph', 'https://graph.microsoft.com/v1.0/users'));
    expect(ok.status).toBe(200);
    expect(sent).toEqual(['Bearer kept-token', 'Bearer fresh-token']);
    expect(asked).toEqual([false, true]);

    let tries = 0;
    const revoked = createTenantHttp({
      settings,
      tokens: fresh,
      clock,
      fetch: async () => {
        tries += 1;
        return new Response('{}', { status: 401 });
      },
    });
    const refused = await clock.run(() => revoked.request('graph', 'https://graph.microsoft.com/v1.0/users'));
    expect([refused.status, tries]).toEqual([401, 2]);
  });
});
