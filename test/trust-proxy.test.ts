import { beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { createApp } from '../src/directory/apps.js';
import { tenantId } from '../src/directory/settings.js';
import { makeUser, tokenFor } from './support/factories.js';
import { useTestApp, type TestContext } from './support/services.js';

// PHOTOSYNC_TRUST_PROXY: per-address limits count the client a trusted proxy names in
// X-Forwarded-For, and the header of anyone else counts for nothing. The password grant's
// failed-guess limit (5 per account from one address) shows which address was counted.

const PASSWORD = 'correct horse battery';

function guessing(context: TestContext & { app: App }) {
  let ready: Promise<{ tenant: string; clientId: string }> | undefined;
  const setUp = () =>
    (ready ??= (async () => ({
      tenant: await tenantId(context.services.database.db),
      clientId: (await createApp(context.services.database.db, 'Proxy test', ['User.Read'], { publicClient: true }))
        .clientId,
    }))());
  return async (upn: string, password: string, forwardedFor: string) => {
    const { tenant, clientId } = await setUp();
    const response = await context.app.inject({
      method: 'POST',
      url: `/${tenant}/oauth2/v2.0/token`,
      // app.inject's requests come from 127.0.0.1.
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': forwardedFor },
      payload: new URLSearchParams({
        grant_type: 'password',
        client_id: clientId,
        username: upn,
        password,
        scope: 'User.Read',
      }).toString(),
    });
    return response.statusCode === 200 ? 'token' : (response.json() as { error_codes: number[] }).error_codes[0];
  };
}

describe('behind a trusted proxy (PHOTOSYNC_TRUST_PROXY=127.0.0.1)', () => {
  const context = useTestApp('sqlite', { PHOTOSYNC_TRUST_PROXY: '127.0.0.1' });
  const grant = guessing(context);
  let upn: string;
  beforeAll(async () => {
    upn = (await makeUser(context.services, { password: PASSWORD })).upn;
  });

  it('counts failed guesses per client, so a guesser does not lock the owner out everywhere', async () => {
    for (let i = 0; i < 5; i++) expect(await grant(upn, `guess ${i}`, '203.0.113.5')).toBe(50126);
    // The guessing client is refused (AADSTS50053), even with the right password …
    expect(await grant(upn, PASSWORD, '203.0.113.5')).toBe(50053);
    // … and the owner, behind the same proxy from another address, signs in.
    expect(await grant(upn, PASSWORD, '198.51.100.7')).toBe('token');
  });

  it('takes the client from the right end of the chain: what the client wrote itself is not believed', async () => {
    const other = (await makeUser(context.services, { password: PASSWORD })).upn;
    // A client that writes its own X-Forwarded-For gets the proxy's append after it; each guess
    // claims another address, but the proxy saw one.
    for (let i = 0; i < 5; i++) expect(await grant(other, `guess ${i}`, `10.9.9.${i}, 203.0.113.6`)).toBe(50126);
    expect(await grant(other, PASSWORD, '10.9.9.99, 203.0.113.6')).toBe(50053);
  });

  it('lets no request of a Graph $batch leave Graph: the token endpoint is not one more way to guess', async () => {
    const { services, app } = context;
    const victim = (await makeUser(services, { password: PASSWORD })).upn;
    const attacker = await tokenFor(services, await makeUser(services));
    const tenant = await tenantId(services.database.db);
    const clientId = (await createApp(services.database.db, 'Batch test', ['User.Read'], { publicClient: true }))
      .clientId;
    const form = (password: string) =>
      Buffer.from(
        new URLSearchParams({ grant_type: 'password', client_id: clientId, username: victim, password }).toString(),
      ).toString('base64');
    // Each spelling of "up from /v1.0" a URL parser resolves; every request claims an address of its own.
    const ways = [
      `/../${tenant}/oauth2/v2.0/token`,
      `../${tenant}/oauth2/v2.0/token`,
      `/%2e%2e/${tenant}/oauth2/v2.0/token`,
      `/me/..%2F..%2F${tenant}/oauth2/v2.0/token`,
      `\\..\\${tenant}/oauth2/v2.0/token`,
      `/./../../${tenant}/oauth2/v2.0/token`,
    ];
    for (const [i, url] of ways.entries()) {
      const batch = await app.inject({
        method: 'POST',
        url: '/v1.0/$batch',
        headers: { authorization: `Bearer ${attacker}`, 'content-type': 'application/json' },
        payload: JSON.stringify({
          requests: Array.from({ length: 20 }, (_, step) => ({
            id: String(step + 1),
            method: 'POST',
            url,
            headers: {
              'content-type': 'application/x-www-form-urlencoded',
              'x-forwarded-for': `198.51.100.${i * 20 + step}`,
            },
            body: form(`guess ${step}`),
          })),
        }),
      });
      // Refused whole, or each request answered by Graph as an address it does not have (one that
      // stays under /v1.0 once resolved): never by the token endpoint.
      if (batch.statusCode === 200) {
        for (const answer of batch.json().responses as Array<{
          status: number;
          body: { error?: { message: string } };
        }>) {
          expect(answer.status, url).toBe(400);
          expect(answer.body.error?.message, url).toMatch(/^Resource not found for the segment in \/v1\.0\//);
        }
      } else {
        expect(batch.statusCode, url).toBe(400);
        expect(batch.json().error.message, url).toMatch(/^Request 1 needs a url relative to the version/);
      }
    }
    // Nor by the tenant routes under /v1.0 itself: Graph's version is no tenant, even when a user's
    // UPN ends in it.
    await makeUser(services, { upn: 'eve@v1.0' });
    const underVersion = await app.inject({
      method: 'POST',
      url: '/v1.0/$batch',
      headers: { authorization: `Bearer ${attacker}`, 'content-type': 'application/json' },
      payload: JSON.stringify({
        requests: [
          { id: '1', method: 'GET', url: '/.well-known/openid-configuration' },
          {
            id: '2',
            method: 'POST',
            url: '/oauth2/v2.0/token',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: form(PASSWORD),
          },
        ],
      }),
    });
    for (const answer of underVersion.json().responses as Array<{ status: number; body: unknown }>) {
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(JSON.stringify(answer.body)).not.toContain('access_token');
    }
    // Not one guess was counted: five more from one address still get as far as the password.
    for (let i = 0; i < 5; i++) expect(await grant(victim, `guess ${i}`, '203.0.113.9')).toBe(50126);
  });
});

describe('without a trusted proxy', () => {
  // The proxy named is another machine: requests from 127.0.0.1 are not from it.
  const context = useTestApp('sqlite', { PHOTOSYNC_TRUST_PROXY: '10.0.0.1' });
  const grant = guessing(context);

  it('ignores X-Forwarded-For: every guess counts against the address that sent it', async () => {
    const upn = (await makeUser(context.services, { password: PASSWORD })).upn;
    for (let i = 0; i < 5; i++) expect(await grant(upn, `guess ${i}`, `198.51.100.${i}`)).toBe(50126);
    expect(await grant(upn, PASSWORD, '198.51.100.200')).toBe(50053);
  });
});
