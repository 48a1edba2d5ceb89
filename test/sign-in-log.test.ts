import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { createApp } from '../src/directory/apps.js';
import { setUserEnabled } from '../src/directory/revocation.js';
import { tenantId } from '../src/directory/settings.js';
import type { Services } from '../src/services.js';
import { makeUser, PASSWORD } from './support/factories.js';
import { FormClient } from './support/form-client.js';
import { createTestStore, describeEachDialect, openTestServices, type TestStore } from './support/services.js';

// A refused password sign-in is one line of the server's log at info, by the form and by the
// password grant alike: who, from where, why; never the password. What an operator's log watcher counts.

describeEachDialect('refused sign-ins in the log', (dialect) => {
  let store: TestStore;
  let services: Services;
  let app: App;
  const lines: string[] = [];
  beforeAll(async () => {
    store = await createTestStore(dialect);
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    services = await openTestServices(store, {}, { log });
    app = await buildApp(services);
  });
  afterAll(async () => {
    await app.close();
    await services.close();
    await store.drop();
  });

  const refusals = () =>
    lines
      .map((line) => JSON.parse(line) as { msg: string; signIn?: Record<string, string> })
      .filter((entry) => entry.signIn !== undefined);

  it('names the account, the address, the way in and the reason, never the password', async () => {
    const user = await makeUser(services);
    const form = new FormClient(app);
    expect((await form.signIn(user.upn, 'not the password 1')).statusCode).toBe(401);
    const registered = await createApp(services.database.db, 'Script', ['User.Read'], { publicClient: true });
    const grant = await app.inject({
      method: 'POST',
      url: `/${await tenantId(services.database.db)}/oauth2/v2.0/token`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'password',
        client_id: registered.clientId,
        username: user.upn,
        password: 'not the password 2',
        scope: 'https://graph.microsoft.com/User.Read',
      }).toString(),
    });
    expect(grant.statusCode).toBe(400);
    expect(refusals().map((entry) => entry.signIn)).toEqual([
      { upn: user.upn, address: '127.0.0.1', way: 'form', reason: 'wrong_password' },
      { upn: user.upn, address: '127.0.0.1', way: 'password_grant', reason: 'wrong_password' },
    ]);
    expect(refusals()[0]!.msg).toBe(`sign-in refused (wrong password): ${user.upn} from 127.0.0.1`);
    expect(lines.join('\n')).not.toContain('not the password');

    // Throttled after five failures; the right password of a disabled account is its own reason.
    for (let i = 3; i <= 5; i++) await form.signIn(user.upn, `not the password ${i}`);
    expect((await form.signIn(user.upn, PASSWORD)).statusCode).toBe(429);
    expect(refusals().at(-1)?.signIn).toMatchObject({ reason: 'throttled', way: 'form' });
    const other = await makeUser(services);
    await setUserEnabled(services.database.db, other, false);
    expect((await form.signIn(other.upn, PASSWORD)).statusCode).toBe(403);
    expect(refusals().at(-1)?.signIn).toMatchObject({ upn: other.upn, reason: 'disabled' });
  });
});
