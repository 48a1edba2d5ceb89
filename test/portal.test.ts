import { beforeAll, expect, it } from 'vitest';
import { userForSession } from '../src/directory/credentials.js';
import type { App } from '../src/app.js';
import { SESSION_COOKIE } from '../src/http/auth.js';
import type { Services } from '../src/services.js';
import { makeUser } from './support/factories.js';
import { FormClient as Browser } from './support/form-client.js';
import { describeEachDialect, useTestApp } from './support/services.js';

describeEachDialect('portal sign-in', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  beforeAll(() => ({ services, app } = context));

  it('signs in with a fresh session cookie, shows the home page, and signs out', async () => {
    const user = await makeUser(services, { displayName: 'Mari <Maasikas>', password: 'long password' });
    const browser = new Browser(app);
    expect((await browser.request('GET', '/')).headers.location).toBe('/signin');

    const signedIn = await browser.signIn(user.upn.toUpperCase(), 'long password');
    expect(signedIn.statusCode).toBe(303);
    expect(signedIn.headers.location).toBe('/');
    const cookie = signedIn.cookies.find((c) => c.name === SESSION_COOKIE);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });

    const home = await browser.request('GET', '/');
    expect(home.statusCode).toBe(200);
    expect(home.body).toContain('Hello, Mari &lt;Maasikas>');
    expect(home.body).not.toContain('<Maasikas>');
    expect(home.body).toContain('action="/launch/sharepoint"');
    expect(home.headers['content-security-policy']).toContain("frame-ancestors 'none'");

    const signOut = await browser.request('POST', '/signout', { _csrf: await browser.csrfToken('/') });
    expect(signOut.headers.location).toBe('/signin');
    expect(await userForSession(services.database.db, cookie!.value)).toBeUndefined();
    expect((await browser.request('GET', '/')).headers.location).toBe('/signin');
  });

  it('rotates the session at every sign-in', async () => {
    const user = await makeUser(services, { password: 'long password' });
    const browser = new Browser(app);
    await browser.signIn(user.upn, 'long password');
    const first = browser.cookies.get(SESSION_COOKIE)!;
    await browser.request('POST', '/signin', {
      upn: user.upn,
      password: 'long password',
      _csrf: await browser.csrfToken('/'),
    });
    const second = browser.cookies.get(SESSION_COOKIE)!;
    expect(second).not.toBe(first);
    expect(await userForSession(services.database.db, first)).toBeUndefined();
    expect((await userForSession(services.database.db, second))?.id).toBe(user.id);
  });

  it('says in Estonian that the account and password do not match, keeping the UPN typed', async () => {
    const user = await makeUser(services, { password: 'long password' });
    const browser = new Browser(app, 'et-EE,et;q=0.9,en;q=0.5');
    const response = await browser.signIn(user.upn, 'wrong password');
    expect(response.statusCode).toBe(401);
    expect(response.body).toContain('<html lang="et">');
    expect(response.body).toContain('Konto ja parool ei sobi kokku');
    expect(response.body).toContain(`value="${user.upn}"`);
    expect(browser.cookies.has(SESSION_COOKIE)).toBe(false);
  });

  it('counts guesses sent in parallel before checking them', async () => {
    const user = await makeUser(services, { password: 'long password' });
    const browser = new Browser(app);
    const token = await browser.csrfToken();
    const responses = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        browser.request('POST', '/signin', { upn: user.upn, password: `guess ${i}`, _csrf: token }),
      ),
    );
    const statuses = responses.map((r) => r.statusCode).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
  });

  it('answers an incomplete form with the form and a message, not an error body', async () => {
    const browser = new Browser(app, 'et');
    const token = await browser.csrfToken();
    const missing = await browser.request('POST', '/signin', { upn: 'jane@contoso.com', _csrf: token });
    expect(missing.statusCode).toBe(400);
    expect(missing.headers['content-type']).toMatch(/text\/html/);
    expect(missing.body).toContain('Sisesta oma töökonto ja parool.');
    // An account name no account can have is a wrong account, said as any other (never hashed).
    const tooLong = await browser.request('POST', '/signin', { upn: 'x'.repeat(400), password: 'p', _csrf: token });
    expect(tooLong.statusCode).toBe(401);
    expect(tooLong.headers['content-type']).toMatch(/text\/html/);
    expect(tooLong.body).toContain('Konto ja parool ei sobi kokku.');
  });

  it('refuses a form without its CSRF token', async () => {
    const user = await makeUser(services, { password: 'long password' });
    const browser = new Browser(app);
    await browser.csrfToken();
    const response = await browser.request('POST', '/signin', {
      upn: user.upn,
      password: 'long password',
      _csrf: 'forged',
    });
    expect(response.statusCode).toBe(403);
    expect(response.body).toContain('This form has expired');
    expect(browser.cookies.has(SESSION_COOKIE)).toBe(false);
  });

  it('slows down guessing after repeated failures, even with the right password, and says when to retry', async () => {
    const user = await makeUser(services, { password: 'long password' });
    const browser = new Browser(app);
    const token = await browser.csrfToken();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const response = await browser.request('POST', '/signin', {
        upn: user.upn,
        password: `guess ${i}`,
        _csrf: token,
      });
      statuses.push(response.statusCode);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    const blocked = await browser.request('POST', '/signin', {
      upn: user.upn,
      password: 'long password',
      _csrf: token,
    });
    expect(blocked.statusCode).toBe(429);
    expect(blocked.body).toMatch(/Try again in 15 min\./);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(800);
    expect(browser.cookies.has(SESSION_COOKIE)).toBe(false);

    const colleague = await makeUser(services, { password: 'long password' });
    expect((await new Browser(app).signIn(colleague.upn, 'long password')).statusCode).toBe(303);
  });
});
