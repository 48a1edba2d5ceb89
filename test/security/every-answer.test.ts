import { beforeAll, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { makeUser, tokenFor } from '../support/factories.js';
import { FormClient } from '../support/form-client.js';
import { describeEachDialect, useTestApp } from '../support/services.js';

// Answers that no route gives: the router's own refusals carry the security headers too, and a
// body over a route's limit is called what it is, not a picture, where the route takes no picture.

/** The pages' headers (auth-matrix.test.ts checks the same on every route). */
function expectSecurityHeaders(response: LightMyRequestResponse): void {
  expect(String(response.headers['content-security-policy'])).toContain("frame-ancestors 'none'");
  expect(response.headers['x-content-type-options']).toBe('nosniff');
  expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
  expect(response.headers['referrer-policy']).toBe('same-origin');
}

describeEachDialect('every answer', (dialect) => {
  const context = useTestApp(dialect);
  const big = 'x'.repeat(2 * 1024 * 1024);
  let signInToken: string;
  let forms: FormClient;

  beforeAll(async () => {
    forms = new FormClient(context.app);
    signInToken = await forms.csrfToken('/signin');
  });

  it('carries the security headers on a URL the router cannot read', async () => {
    for (const url of ['/%', '/%zz', '/v1.0/%', '/_layouts/15/%']) {
      const response = await context.app.inject({ url });
      expect(response.statusCode, url).toBe(400);
      expectSecurityHeaders(response);
    }
  });

  it('says a body is too large without calling it a picture, where the route takes none', async () => {
    const page = await context.app.inject({
      method: 'POST',
      url: '/signin',
      headers: { cookie: forms.cookieHeader, 'content-type': 'application/x-www-form-urlencoded' },
      payload: `_csrf=${signInToken}&upn=${big}`,
    });
    expect(page.statusCode).toBe(413);
    expect(page.body).toContain('What you sent is larger than this page accepts.');
    expect(page.body).not.toMatch(/picture|file is larger|5,000,000/i);

    const user = await makeUser(context.services);
    const bearer = { authorization: `Bearer ${await tokenFor(context.services, user)}` };
    const apis: Array<{ url: string; type: string; headers?: Record<string, string> }> = [
      { url: '/_api/contextinfo', type: 'application/json', headers: bearer },
      { url: '/organizations/oauth2/v2.0/token', type: 'application/x-www-form-urlencoded' },
    ];
    for (const { url, type, headers } of apis) {
      const response = await context.app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': type, ...headers },
        payload: big,
      });
      // Entra's token endpoint answers as Entra does (400 invalid_request); the others 413.
      expect(response.statusCode, url).toBe(url.includes('oauth2') ? 400 : 413);
      expect(response.body, url).toMatch(/larger than 1,048,576 bytes|body is too large/);
      expect(response.body, url).not.toMatch(/picture|photo|5,000,000/i);
    }
  });

  it('still says it about the picture on the upload forms', async () => {
    const signedIn = new FormClient(context.app);
    const user = await makeUser(context.services);
    await signedIn.signIn(user.upn, 'correct horse battery');
    const token = await signedIn.csrfToken('/profile-photo');
    const response = await signedIn.upload('/profile-photo', token, Buffer.alloc(5 * 1024 * 1024, 1));
    expect(response.statusCode).toBe(413);
    expect(response.body).toContain('That file is larger than 4 MB');
  });
});
