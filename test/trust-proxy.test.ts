import { beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { createApp } from '../src/directory/apps.js';
import { tenantId } from '../src/directory/settings.js';
import { makeUser } from './support/factories.js';
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
      clientId: (await createApp(context.services.database.db, 'Proxy test', ['User.Read'])).clientId,
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
