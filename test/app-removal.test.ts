import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { createApp } from '../src/directory/apps.js';
import { tenantId } from '../src/directory/settings.js';
import type { Services } from '../src/services.js';
import { bearer } from './support/apps.js';
import { runCommand } from './support/cli.js';
import { makeUser } from './support/factories.js';
import { describeEachDialect, openTestServices, useTestApp } from './support/services.js';

// `photosync apps remove` ends what the app was given, in every instance that serves the store:
// a user's access token from the password grant is refused from the next request on (its app is
// looked up at verification, through the read cache, which notices the CLI's commit), and its
// refresh token gives nothing.

describeEachDialect('removing an app ends its tokens everywhere', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let first: App;
  let secondServices: Services;
  let second: App;
  let tenant: string;
  beforeAll(async () => {
    ({ services, app: first } = context);
    tenant = await tenantId(services.database.db);
    // A second instance on the same database, as behind a load balancer.
    secondServices = await openTestServices(context.store);
    second = await buildApp(secondServices);
  });
  afterAll(async () => {
    await second?.close();
    await secondServices?.close();
  });

  const token = (instance: App, form: Record<string, string>) =>
    instance.inject({
      method: 'POST',
      url: `/${tenant}/oauth2/v2.0/token`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(form).toString(),
    });

  it('a password-grant token through the app is refused by both instances after `photosync apps remove`', async () => {
    const registered = await createApp(services.database.db, 'Sync script', ['User.Read'], { publicClient: true });
    const user = await makeUser(services);
    const granted = await token(first, {
      grant_type: 'password',
      client_id: registered.clientId,
      username: user.upn,
      password: 'correct horse battery',
      scope: 'User.Read offline_access',
    });
    expect(granted.statusCode, granted.body).toBe(200);
    const { access_token: accessToken, refresh_token: refreshToken } = granted.json();
    const me = (instance: App) => instance.inject({ url: '/v1.0/me', headers: bearer(accessToken) });
    // Both instances have now read (and, on SQLite, cached) the app's row.
    expect((await me(first)).statusCode).toBe(200);
    expect((await me(second)).statusCode).toBe(200);

    const removed = await runCommand(['apps', 'remove', registered.clientId], context.store.env);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain('its tokens no longer work');

    for (const instance of [first, second]) {
      const after = await me(instance);
      expect([after.statusCode, after.json().error.code]).toEqual([401, 'InvalidAuthenticationToken']);
    }
    const refreshed = await token(second, {
      grant_type: 'refresh_token',
      client_id: registered.clientId,
      refresh_token: refreshToken,
      scope: 'User.Read',
    });
    expect(refreshed.statusCode).toBe(400);
    expect(refreshed.body).not.toContain('access_token');
    const again = await token(first, {
      grant_type: 'password',
      client_id: registered.clientId,
      username: user.upn,
      password: 'correct horse battery',
      scope: 'User.Read',
    });
    expect([again.statusCode, again.json().error]).toEqual([400, 'unauthorized_client']);
  });
});
