import { expect, it } from 'vitest';
import { createApp } from '../src/directory/apps.js';
import { tenantId } from '../src/directory/settings.js';
import { setUserEnabled } from '../src/directory/revocation.js';
import { translator } from '../src/web/i18n.js';
import { makeUser } from './support/factories.js';
import { useServer } from './support/browser.js';
import { HttpClient, pageMessage } from './support/http-client.js';
import { describeEachDialect, useTestServices } from './support/services.js';

// A person whose account an administrator disabled, signing in with the right password, is told
// the account is disabled (as Entra says AADSTS50057), not that the password is wrong: they would
// try it again and again, and be locked out when the account is enabled. A wrong password for a
// disabled account says only that account and password do not match.

const PASSWORD = 'correct horse battery';

describeEachDialect('signing in to a disabled account', (dialect) => {
  const context = useTestServices(dialect);
  const server = useServer(() => context.services);

  it('says the account is disabled, in the page language, counts no failure and signs in once enabled', async () => {
    const user = await makeUser(context.services);
    await setUserEnabled(context.services.database.db, user, false);
    const client = new HttpClient(server.baseUrl, 'et');
    const t = translator('et');

    const wrong = await client.signIn(user.upn, 'not the password');
    expect(wrong.status).toBe(401);
    expect(pageMessage(wrong.body)).toBe(t('signin.failed'));

    // More tries with the right password than the throttle allows failures: none counts as one.
    for (let i = 0; i < 6; i++) {
      const refused = await client.signIn(user.upn, PASSWORD);
      expect(refused.status).toBe(403);
      expect(pageMessage(refused.body)).toBe(t('signin.disabled'));
      expect(client.cookies.has('photosync_session')).toBe(false);
    }

    await setUserEnabled(context.services.database.db, user, true);
    const signedIn = await client.signIn(user.upn, PASSWORD);
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get('location')).toBe('/');
  });

  it('answers the password grant with AADSTS50057 for a disabled user', async () => {
    const user = await makeUser(context.services);
    await setUserEnabled(context.services.database.db, user, false);
    const db = context.services.database.db;
    const app = await createApp(db, 'Password grant', ['User.Read'], { publicClient: true });
    const response = await fetch(`${server.baseUrl}/${await tenantId(db)}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: app.clientId,
        scope: 'User.Read',
        username: user.upn,
        password: PASSWORD,
      }),
    });
    const body = (await response.json()) as { error: string; error_codes: number[] };
    expect(response.status).toBe(400);
    expect(body.error).toBe('invalid_grant');
    expect(body.error_codes).toEqual([50057]);
  });
});
