import { expect, it } from 'vitest';
import { translator } from '../src/web/i18n.js';
import { makeUser } from './support/factories.js';
import { useServer } from './support/browser.js';
import { HttpClient, pageMessage } from './support/http-client.js';
import { describeEachDialect, useTestServices } from './support/services.js';

// The sign-in form answers an account name or a password longer than any account has (a
// paste gone wrong) as what it is, an account and password that do not match, and keeps where
// the person was going; it said "Enter your work account and your password" to someone who had
// entered both, and the page after signing in was lost.

describeEachDialect('the sign-in form with over-long input', (dialect) => {
  const context = useTestServices(dialect);
  const server = useServer(() => context.services);

  it('says account and password do not match, in the page language, and keeps the address to go on to', async () => {
    const user = await makeUser(context.services);
    const t = translator('et');
    const cases = [
      { upn: `${'a'.repeat(400)}@contoso.com`, password: 'correct horse battery' },
      { upn: user.upn, password: 'x'.repeat(1500) },
    ];
    for (const { upn, password } of cases) {
      const client = new HttpClient(server.baseUrl, 'et');
      const token = await client.csrfToken('/signin?next=%2Fprofile-photo');
      const refused = await client.request('POST', '/signin', {
        form: { upn, password, _csrf: token, next: '/profile-photo' },
      });
      expect(refused.status, upn.slice(0, 20)).toBe(401);
      expect(pageMessage(refused.body)).toBe(t('signin.failed'));
      expect(refused.body).toContain('name="next" value="/profile-photo"');
      expect(client.cookies.has('photosync_session')).toBe(false);
    }
  });
});
