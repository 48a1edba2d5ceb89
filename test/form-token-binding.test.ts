import { expect, it } from 'vitest';
import { makeUser } from './support/factories.js';
import { FormClient } from './support/form-client.js';
import { describeEachDialect, useTestApp } from './support/services.js';

// A form token is good only for the session it was made for. Someone who can set a cookie for the
// site (a sibling subdomain) could otherwise plant their own `_csrf` secret in a colleague's
// browser and post a form with a token the server made for that secret on their own visit.

const PASSWORD = 'correct horse battery';

describeEachDialect('form tokens', (dialect) => {
  const context = useTestApp(dialect);

  it('refuses a token made for another session or before sign-in, with a planted secret, and saves nothing', async () => {
    const { services, app } = context;
    const admin = await makeUser(services, { isAdmin: true });
    const mallory = await makeUser(services, { isAdmin: true });

    // The one who plants: signed in as themselves, holding a secret and a token made for it.
    const attacker = new FormClient(app);
    const beforeSignIn = await attacker.csrfToken('/signin');
    await attacker.signIn(mallory.upn, PASSWORD);
    const ownToken = await attacker.csrfToken('/admin/settings');
    const plantedSecret = attacker.cookies.get('_csrf')!;

    const victim = new FormClient(app);
    await victim.signIn(admin.upn, PASSWORD);
    victim.cookies.set('_csrf', plantedSecret);
    const before = await services.settings.refresh();
    for (const token of [ownToken, beforeSignIn]) {
      const forged = await victim.request('POST', '/admin/settings', {
        _csrf: token,
        sizeS: '48',
        sizeM: '72',
        sizeL: '300',
        recheckSeconds: '0',
        errorBackoffSeconds: '1',
        mailFrom: 'photosync@contoso.com',
      });
      expect(forged.statusCode).toBe(403);
    }
    expect(await services.settings.refresh()).toEqual(before);

    // The same browser's own form, made for its session (with the planted secret), still works.
    const own = await victim.csrfToken('/admin/settings');
    const saved = await victim.request('POST', '/admin/settings', {
      _csrf: own,
      sizeS: '48',
      sizeM: '72',
      sizeL: '300',
      recheckSeconds: '0',
      errorBackoffSeconds: '1',
      mailFrom: 'photosync@contoso.com',
    });
    expect(saved.statusCode).toBe(303);
  });

  it('refuses, after a sign-in, the token the sign-in page gave', async () => {
    const user = await makeUser(context.services);
    const browser = new FormClient(context.app);
    const token = await browser.csrfToken('/signin');
    await browser.request('POST', '/signin', { upn: user.upn, password: PASSWORD, _csrf: token });
    const tile = await browser.request('POST', '/launch/sharepoint', { _csrf: token });
    expect(tile.statusCode).toBe(403);
    const fresh = await browser.request('POST', '/launch/sharepoint', { _csrf: await browser.csrfToken('/') });
    expect(fresh.statusCode).toBe(303);
  });
});
