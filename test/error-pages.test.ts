import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { AppError } from '../src/errors.js';
import { en } from '../src/web/messages/en.js';
import { et } from '../src/web/messages/et.js';
import { makeUser } from './support/factories.js';
import type { App } from '../src/app.js';
import { describeEachDialect, useTestApp, type TestContext } from './support/services.js';

// Addresses and refusals a browser meets outside any form: a page in the person's language with
// the suite bar and the way back; the APIs keep their own envelopes at the same addresses.

const PASSWORD = 'correct horse battery';
const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

/** Headers of a browser signed in as a new user, asking for pages in `language`. */
async function signedIn(context: TestContext & { app: App }, language: string, isAdmin = false) {
  {
    const user = await makeUser(context.services, { displayName: 'Pille Puu', isAdmin });
    const signin = await context.app.inject({ url: '/signin' });
    const token = /name="_csrf" value="([^"]+)"/.exec(signin.body)?.[1] ?? '';
    const csrf = signin.cookies.find((c) => c.name === '_csrf')?.value ?? '';
    const response = await context.app.inject({
      method: 'POST',
      url: '/signin',
      headers: { cookie: `_csrf=${csrf}`, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ _csrf: token, upn: user.upn, password: PASSWORD }).toString(),
    });
    const session = response.cookies.find((c) => c.name === 'photosync_session')?.value ?? '';
    return { cookie: `photosync_session=${session}; _csrf=${csrf}`, 'accept-language': language, accept: HTML };
  }
}

describeEachDialect('error pages for browsers', (dialect) => {
  const context = useTestApp(dialect);
  const signedInAs = (language: string) => signedIn(context, language);

  it('answers an unknown address with a page in the reader’s language, with the suite bar and the way back', async () => {
    for (const [language, t] of [
      ['en-GB', en],
      ['et-EE,et;q=0.9', et],
    ] as const) {
      const headers = await signedInAs(language);
      for (const url of ['/nope', '/admin/nope', '/_layouts/15/nothing.aspx', '/nope?x=1']) {
        const response = await context.app.inject({ url, headers });
        expect(response.statusCode, url).toBe(404);
        expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
        expect(response.body).toContain(`<html lang="${language.slice(0, 2)}"`);
        expect(response.body).toContain(t['error.notFound']);
        expect(response.body).toContain(`<a href="/">${t['error.back']}</a>`);
        // The suite bar knows who is signed in, and the language switch works from here.
        expect(response.body).toContain('Pille Puu');
        expect(response.body).toMatch(/class="lang-switch"[\s\S]*name="_csrf" value="[^"]+"/);
      }
    }
  });

  it('answers an address that is no valid URL with a page in the reader’s language, signed in or not', async () => {
    const urls = ['/%', '/admin/%zz', '/User%20Photos/Profile%20Pictures/%zz', `/admin/users/${'a'.repeat(400)}`];
    for (const [headers, t] of [
      [{ accept: HTML, 'accept-language': 'et' }, et],
      [await signedInAs('en-GB'), en],
      [{ accept: HTML, cookie: 'photosync_session=%zz; photosync_lang=et' }, et],
    ] as const) {
      for (const url of urls) {
        const response = await context.app.inject({ url, headers });
        expect(response.statusCode, url).toBe(400);
        expect(response.headers['content-type'], url).toBe('text/html; charset=utf-8');
        expect(response.body, url).toContain(t['error.badAddress']);
      }
    }
    expect((await context.app.inject('/healthz')).statusCode).toBe(200);
  });

  it('heads a wrong address and connect mode not set up as what they are, not "Something went wrong"', async () => {
    for (const [language, t] of [
      ['en-GB', en],
      ['et', et],
    ] as const) {
      const headers = await signedIn(context, language, true);
      const wrong = await context.app.inject({ url: '/admin/users?state=bogus', headers });
      expect(wrong.statusCode).toBe(400);
      expect(wrong.body).toMatch(new RegExp(`<h1[^>]*>${t['error.badAddress.title']}</h1>`));
      const tenant = await context.app.inject({ url: '/admin/tenant', headers });
      expect(tenant.statusCode).toBe(404);
      expect(tenant.body).toMatch(new RegExp(`<h1[^>]*>${t['admin.tenant.notOn.title']}</h1>`));
      for (const page of [wrong, tenant]) expect(page.body).not.toContain(t['error.title']);
    }
  });

  it('answers a picture’s address that does not say whose picture as a wrong address, not a form to check', async () => {
    for (const [language, t] of [
      ['en-GB', en],
      ['et', et],
    ] as const) {
      const headers = await signedInAs(language);
      for (const url of ['/_layouts/15/userphoto.aspx', '/_layouts/15/userphoto.aspx?size=M&accountname=nobody']) {
        const response = await context.app.inject({ url, headers });
        expect(response.statusCode, url).toBe(400);
        expect(response.headers['content-type'], url).toBe('text/html; charset=utf-8');
        expect(response.body, url).toContain(t['error.badAddress']);
        expect(response.body, url).not.toContain(t['admin.error.invalid']);
      }
    }
  });

  it('lets a page answered at a picture’s address load its stylesheets, script and suite-bar photo', async () => {
    // A picture's own answer forbids everything (default-src 'none', sandbox); a page in its place
    // kept that policy, so a browser showed it unstyled, with the menus dead and no avatar.
    const headers = await signedInAs('et');
    for (const url of [
      '/_layouts/15/userphoto.aspx?size=Q&accountname=jane@contoso.com',
      '/_layouts/15/userphoto.aspx?size=L',
      '/User%20Photos/Profile%20Pictures/nobody_contoso_com_MThumb.jpg',
    ]) {
      const response = await context.app.inject({ url, headers });
      expect(response.headers['content-type'], url).toBe('text/html; charset=utf-8');
      expect(response.body, url).toContain('href="/assets/portal.css"');
      const policy = String(response.headers['content-security-policy']);
      expect(policy, url).not.toMatch(/\bsandbox\b/);
      expect(policy, url).toMatch(/style-src 'self'/);
      expect(policy, url).toMatch(/script-src 'self'/);
    }
    // The pictures themselves keep the strict policy.
    const picture = await context.app.inject({
      url: '/_layouts/15/userphoto.aspx?size=M&accountname=nobody@contoso.com',
      headers,
    });
    expect(picture.headers['content-type']).toMatch(/^image\//);
    expect(picture.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'; sandbox");
  });

  it('says 405 with Allow for an address that takes other methods', async () => {
    const headers = await signedInAs('et');
    const response = await context.app.inject({ url: '/signout', headers });
    expect(response.statusCode).toBe(405);
    expect(response.headers.allow).toBe('POST');
    expect(response.body).toContain(et['error.methodNotAllowed.title']);
    const api = await context.app.inject({ url: '/signout' });
    expect(api.statusCode).toBe(405);
    expect(api.json().error.code).toBe('method_not_allowed');
  });

  it('sends a page address with a trailing slash to the page (GET and HEAD only); the APIs keep theirs', async () => {
    for (const [method, url, location] of [
      ['GET', '/signin/', '/signin'],
      ['HEAD', '/signin/', '/signin'],
      ['GET', '/signin//?lang=et', '/signin?lang=et'],
      ['GET', '/help/profile-picture-sync/', '/help/profile-picture-sync'],
      ['GET', '/profile-photo/', '/profile-photo'],
    ] as const) {
      const response = await context.app.inject({ method, url, headers: { accept: HTML } });
      expect(response.statusCode, `${method} ${url}`).toBe(301);
      expect(response.headers.location, `${method} ${url}`).toBe(location);
    }
    // A form is not sent on with another method, nor an address no page has.
    expect((await context.app.inject({ method: 'POST', url: '/signin/', payload: {} })).statusCode).toBe(404);
    expect((await context.app.inject({ url: '/nothing-here/', headers: { accept: HTML } })).statusCode).toBe(404);
    expect((await context.app.inject({ url: '//evil.example/', headers: { accept: HTML } })).headers.location).toBe(
      undefined,
    );
    // The Microsoft-shaped APIs and the console's API answer as before, in their own envelopes.
    const graph = await context.app.inject({ url: '/v1.0/me/photo/' });
    expect(graph.statusCode).not.toBe(301);
    expect(graph.headers.location).toBeUndefined();
    const sharepoint = await context.app.inject({ url: '/_api/web/' });
    expect(sharepoint.statusCode).not.toBe(301);
    const admin = await context.app.inject({ url: '/admin/api/settings/' });
    expect(admin.statusCode).toBe(404);
    expect(admin.headers.location).toBeUndefined();
  });

  it('names HEAD in Allow wherever GET is taken, as HEAD is answered there', async () => {
    const signIn = await context.app.inject({ method: 'DELETE', url: '/signin' });
    expect(signIn.statusCode).toBe(405);
    expect(signIn.headers.allow).toBe('GET, HEAD, POST');
    expect((await context.app.inject({ method: 'HEAD', url: '/signin' })).statusCode).toBe(200);
    const help = await context.app.inject({ method: 'PUT', url: '/help/profile-picture-sync' });
    expect(help.statusCode).toBe(405);
    expect(help.headers.allow).toBe('GET, HEAD');
    expect(help.json().error.message).toContain('it takes GET, HEAD.');
    // HEAD itself where only POST is taken: refused, and HEAD is not offered.
    const signOut = await context.app.inject({ method: 'HEAD', url: '/signout' });
    expect(signOut.statusCode).toBe(405);
    expect(signOut.headers.allow).toBe('POST');
  });

  it('keeps the APIs’ envelopes, even for a browser', async () => {
    const graph = await context.app.inject({ url: '/v1.0/nope', headers: { accept: HTML } });
    expect(graph.json().error.code).toBe('BadRequest');
    const sharepoint = await context.app.inject({ url: '/_api/nope', headers: { accept: HTML } });
    expect(sharepoint.headers['content-type']).toMatch(/^application\/json/);
    for (const url of ['/admin/api/nope', '/nope']) {
      const accept = url === '/nope' ? 'application/json' : HTML;
      const response = await context.app.inject({ url, headers: { accept } });
      expect(response.statusCode, url).toBe(404);
      expect(response.json().error.code, url).toBe('not_found');
    }
    // Graph's beta, as Graph answers (Graph Explorer's addresses often say it), pointing to v1.0.
    const beta = await context.app.inject({ url: '/beta/me/photo', headers: { accept: HTML } });
    expect(beta.statusCode).toBe(400);
    expect(beta.headers['request-id']).toBeTruthy();
    expect(beta.json().error).toMatchObject({
      code: 'BadRequest',
      message: 'photosync answers Microsoft Graph v1.0, not beta: use /v1.0/me/photo.',
      innerError: { 'request-id': expect.any(String) },
    });
    // Entra's endpoints photosync does not offer (MSAL's device code, v1's token endpoint): Entra's body.
    for (const url of ['/common/oauth2/v2.0/devicecode', '/contoso.com/oauth2/token', '/common/oauth2/v2.0/nope']) {
      const response = await context.app.inject({ method: 'POST', url, headers: { accept: HTML } });
      expect(response.statusCode, url).toBe(404);
      expect(response.json(), url).toMatchObject({
        error: 'invalid_request',
        error_description: expect.stringMatching(/^AADSTS900144: There is nothing at /),
        error_codes: [900144],
      });
    }
  });

  it('answers a body too large for a form with a page in the reader’s language', async () => {
    const headers = await signedInAs('et');
    const big = await context.app.inject({
      method: 'POST',
      url: '/language',
      headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
      payload: `lang=et&back=${'x'.repeat(1024 * 1024 + 10)}`,
    });
    expect(big.statusCode).toBe(413);
    expect(big.body).toContain(et['error.tooLarge']);
    expect(big.body).toContain(et['error.back']);
  });
});

describeEachDialect('error pages on the side of the server', (dialect) => {
  const context = useTestApp(dialect);

  it('answers 429, 503 and 500 with the shell’s page, and shows no internals', async () => {
    const { app } = context;
    const thrown: Record<string, () => Error> = {
      '/test/limited': () => new AppError('rate_limited', 'Too many.'),
      '/test/busy': () => new AppError('image_queue_full', 'Busy.', { retryAfterSeconds: 3 }),
      '/test/bug': () => new Error('secret internals'),
    };
    for (const [url, error] of Object.entries(thrown)) {
      app.get(url, { config: { envelope: 'page' } }, () => {
        throw error();
      });
    }
    const get = (url: string) => app.inject({ url, headers: { accept: HTML, 'accept-language': 'et' } });
    const limited = await get('/test/limited');
    expect(limited.statusCode).toBe(429);
    expect(limited.body).toContain(et['error.rateLimited.title']);
    const busy = await get('/test/busy');
    expect(busy.statusCode).toBe(503);
    expect(busy.headers['retry-after']).toBe('3');
    expect(busy.body).toContain(et['error.unavailable.title']);
    const bug = await get('/test/bug');
    expect(bug.statusCode).toBe(500);
    expect(bug.body).toContain(et['error.body']);
    expect(bug.body).toContain(et['error.back']);
    expect(bug.body).not.toContain('secret internals');
    // A broken database still gets its page, in the reader's language.
    const headers = await signedIn(context, 'et');
    await sql`drop table mail_photos`.execute(context.services.database.db);
    const broken = await app.inject({ url: '/profile-photo', headers });
    expect(broken.statusCode).toBe(500);
    expect(broken.body).toContain(et['error.body']);
    expect(broken.body).toContain('class="suite-bar"');
  });
});
