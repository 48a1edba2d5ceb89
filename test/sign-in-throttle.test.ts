import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { createApp } from '../src/directory/apps.js';
import { createSignInThrottle } from '../src/directory/sign-in-throttle.js';
import { tenantId } from '../src/directory/settings.js';
import type { Services } from '../src/services.js';
import { makeUser } from './support/factories.js';
import { FormClient } from './support/form-client.js';
import { describeEachDialect, openTestServices, useTestApp } from './support/services.js';

// The failed sign-in throttle keeps its counts in the database: its rules (per account from an
// address, per address, forgiven on success, a window), parallel attempts counted before they are
// checked, and one count shared by two instances and by the sign-in form and the password grant.

const PASSWORD = 'correct horse battery';

describeEachDialect('the sign-in throttle, counted in the database', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let first: App;
  let secondServices: Services;
  let second: App;
  let tenant: string;
  beforeAll(async () => {
    ({ services, app: first } = context);
    tenant = await tenantId(services.database.db);
    secondServices = await openTestServices(context.store);
    second = await buildApp(secondServices);
  });
  afterAll(async () => {
    await second?.close();
    await secondServices?.close();
  });

  const limits = { windowMs: 60_000, perAccount: 3, perAddress: 5 };
  let run = 0;
  /** A throttle on the test database with small limits, and addresses of its own. */
  const throttle = () => {
    run++;
    return { t: createSignInThrottle(services.database, limits), ip: (n = 1) => `10.${run}.0.${n}` };
  };

  it('refuses an account after too many failures from one address, until the window ends', async () => {
    const { t, ip } = throttle();
    for (let i = 0; i < 3; i++) expect(await t.begin(ip(), 'jane@contoso.com', 1000 + i)).toBe(0);
    expect(await t.begin(ip(), 'JANE@contoso.com', 2000)).toBe(59_000);
    expect(await t.begin(ip(2), 'jane@contoso.com', 2000)).toBe(0);
    expect(await t.begin(ip(), 'lee@contoso.com', 2000)).toBe(0);
    // The window ends a minute after the first failure; a new one begins.
    expect(await t.begin(ip(), 'jane@contoso.com', 61_001)).toBe(0);
  });

  it('refuses an address that guesses across many accounts, and never the owner elsewhere', async () => {
    const { t, ip } = throttle();
    for (let i = 0; i < 5; i++) expect(await t.begin(ip(), `user${i}@contoso.com`, 1000)).toBe(0);
    expect(await t.begin(ip(), 'someone@contoso.com', 1000)).toBe(60_000);
    for (let i = 0; i < 20; i++) await t.begin(ip(10 + i), 'owner@contoso.com', 1000);
    expect(await t.begin(ip(99), 'owner@contoso.com', 1000)).toBe(0);
  });

  it('does not count attempts that succeeded', async () => {
    const { t, ip } = throttle();
    for (let i = 0; i < 10; i++) {
      expect(await t.begin(ip(), 'jane@contoso.com', 1000)).toBe(0);
      await t.forgive(ip(), 'jane@contoso.com');
    }
    expect(await t.begin(ip(), 'jane@contoso.com', 1000)).toBe(0);
  });

  it('lets exactly the limit through when attempts arrive in parallel, from two instances', async () => {
    const { ip } = throttle();
    const a = createSignInThrottle(services.database, limits);
    const b = createSignInThrottle(secondServices.database, limits);
    const waits = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).begin(ip(), 'jane@contoso.com', 5000)),
    );
    expect(waits.filter((w) => w === 0)).toHaveLength(3);
    expect(waits.filter((w) => w > 0)).toHaveLength(17);
    // The refused ones counted nothing: the window still ends a minute after it began.
    expect(await a.begin(ip(), 'jane@contoso.com', 65_001)).toBe(0);
  });

  it('never deadlocks: attempts and successes of one account in parallel, from two instances', async () => {
    const { ip } = throttle();
    const roomy = { windowMs: 60_000, perAccount: 1_000_000, perAddress: 1_000_000 };
    const instances = [
      createSignInThrottle(services.database, roomy),
      createSignInThrottle(secondServices.database, roomy),
    ];
    // Successes forgive through one path, refusals (past the limit) through another.
    for (let round = 0; round < 30; round++) {
      await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const t = instances[i % 2]!;
          if ((await t.begin(ip(), `user${round}@contoso.com`, 1000)) === 0 && i % 3 === 0)
            await t.forgive(ip(), `user${round}@contoso.com`);
        }),
      );
    }
  });

  it('never deadlocks while rows whose window ended are purged, from two instances', async () => {
    const { ip } = throttle();
    const roomy = { windowMs: 60_000, perAccount: 1_000_000, perAddress: 1_000_000 };
    const options = { purgeEvery: 1 };
    const instances = [
      createSignInThrottle(services.database, roomy, options),
      createSignInThrottle(secondServices.database, roomy, options),
    ];
    // Every round's attempts find the last round's rows expired: each upsert starts their window
    // again while each attempt's purge deletes expired rows, all of them on the same few rows.
    for (let round = 0; round < 60; round++) {
      const now = 1000 + round * 60_001;
      await Promise.all(
        Array.from({ length: 80 }, (_, i) => instances[i % 2]!.begin(ip(i % 7), `user${i % 31}@contoso.com`, now)),
      );
    }
  });

  it('one count per account for the sign-in form and the password grant, across two instances', async () => {
    const user = await makeUser(services, { password: PASSWORD });
    const registered = await createApp(services.database.db, 'Guessing script', ['User.Read'], { publicClient: true });
    const grant = (instance: App, password: string) =>
      instance.inject({
        method: 'POST',
        url: `/${tenant}/oauth2/v2.0/token`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'password',
          client_id: registered.clientId,
          username: user.upn,
          password,
          scope: 'User.Read',
        }).toString(),
      });
    const form = new FormClient(second);
    const token = await form.csrfToken();
    const signIn = (password: string) => form.request('POST', '/signin', { upn: user.upn, password, _csrf: token });

    // Three wrong passwords through the grant on one instance, two through the form on the other.
    for (let i = 0; i < 3; i++) expect((await grant(first, `guess ${i}`)).json().error_codes).toEqual([50126]);
    for (let i = 0; i < 2; i++) expect((await signIn(`guess ${i}`)).statusCode).toBe(401);

    // That is five: now even the right password waits, on either instance, by either way in.
    const formRefused = await signIn(PASSWORD);
    expect(formRefused.statusCode).toBe(429);
    expect(Number(formRefused.headers['retry-after'])).toBeGreaterThan(800);
    for (const instance of [first, second]) {
      const refused = await grant(instance, PASSWORD);
      expect([refused.statusCode, refused.json().error_codes]).toEqual([400, [50053]]);
    }
    expect(form.cookies.has('photosync_session')).toBe(false);
  });

  it('does not count a success, but keeps the failures before it', async () => {
    const user = await makeUser(services, { password: PASSWORD });
    const browser = new FormClient(first);
    for (let i = 0; i < 4; i++) expect((await browser.signIn(user.upn, `guess ${i}`)).statusCode).toBe(401);
    expect((await browser.signIn(user.upn, PASSWORD)).statusCode).toBe(303);
    const other = new FormClient(second);
    expect((await other.signIn(user.upn, 'guess again')).statusCode).toBe(401);
    expect((await other.signIn(user.upn, PASSWORD)).statusCode).toBe(429);
  });
});
