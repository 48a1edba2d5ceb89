import { describe, expect, it } from 'vitest';
import { useTestApp } from './support/services.js';

// PHOTOSYNC_METRICS_TOKEN: /metrics answers only Prometheus (or whoever holds the token); without
// the setting it stays open, as the authorization matrix pins.

const TOKEN = 'metrics-scraper-0123456789abcdef';

describe('/metrics with PHOTOSYNC_METRICS_TOKEN set', () => {
  const context = useTestApp('sqlite', { PHOTOSYNC_METRICS_TOKEN: TOKEN });
  const scrape = (authorization?: string) =>
    context.app.inject({ method: 'GET', url: '/metrics', headers: authorization ? { authorization } : {} });

  it('answers the bearer of the token', async () => {
    const response = await scrape(`Bearer ${TOKEN}`);
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('photosync_');
    // The scheme's name is case-insensitive (RFC 7235).
    expect((await scrape(`bearer ${TOKEN}`)).statusCode).toBe(200);
  });

  it('refuses anyone else with 401, a challenge and a sentence saying what is missing', async () => {
    for (const [authorization, says] of [
      [undefined, 'The metrics need the bearer token set in PHOTOSYNC_METRICS_TOKEN'],
      ['Bearer wrong-token-of-the-same-kind-00', 'That is not the token set in PHOTOSYNC_METRICS_TOKEN'],
      [`Bearer ${TOKEN}x`, 'That is not the token'],
      [`Basic ${Buffer.from(`prometheus:${TOKEN}`).toString('base64')}`, 'That is not the token'],
      [`Bearer ${TOKEN} extra`, 'That is not the token'],
    ] as const) {
      const response = await scrape(authorization);
      expect(response.statusCode, authorization).toBe(401);
      expect(response.headers['www-authenticate']).toBe('Bearer realm="photosync metrics"');
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.body).toContain(says);
      expect(response.body).not.toContain('photosync_syncs');
    }
  });

  it('leaves the other operations routes open: a load balancer checks health without a token', async () => {
    expect((await context.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

describe('/metrics: the answers by route', () => {
  const context = useTestApp('sqlite');
  const get = (url: string) => context.app.inject({ method: 'GET', url });

  it('counts every answer by method, route pattern and status, with its duration, never by the address itself', async () => {
    await get('/healthz');
    await get('/healthz');
    await get('/no-such-page');
    await get('/admin/users/jane%40contoso.com');
    const text = (await get('/metrics')).body;
    expect(text).toContain('photosync_http_requests_total{method="GET",route="/healthz",status="200"} 2');
    expect(text).toContain('photosync_http_requests_total{method="GET",route="unmatched",status="404"} 1');
    expect(text).toMatch(/photosync_http_requests_total\{method="GET",route="\/admin\/users\/:upn",status="\d+"\} 1/);
    expect(text).toContain('photosync_http_request_duration_seconds_count{method="GET",route="/healthz"} 2');
    expect(text).not.toContain('jane');
  });
});
