import { beforeAll, expect, it } from 'vitest';
import { SYNC_STATES } from '../src/sync/state.js';
import { makeUser, tokenFor } from './support/factories.js';
import { translator } from '../src/web/i18n.js';
import { useServer } from './support/browser.js';
import { HttpClient, pageMessage } from './support/http-client.js';
import { describeEachDialect, useTestServices } from './support/services.js';

// A request the route's schema refuses is answered with a sentence a person can act on: the
// values a field takes when it takes a few, the field a body must not have, each said once.

describeEachDialect('refused request messages', (dialect) => {
  const context = useTestServices(dialect);
  const server = useServer(() => context.services);
  let adminToken = '';
  beforeAll(async () => {
    adminToken = await tokenFor(context.services, await makeUser(context.services, { isAdmin: true }));
  });

  const get = async (path: string) => {
    const response = await fetch(`${server.baseUrl}${path}`, { headers: { authorization: `Bearer ${adminToken}` } });
    return { status: response.status, body: (await response.json()) as { error: { code: string; message: string } } };
  };

  it('names the values a field takes instead of "must be equal to constant" once per value', async () => {
    for (const path of ['/admin/api/users?state=bogus', '/admin/api/users?state=']) {
      const { status, body } = await get(path);
      expect(status, path).toBe(400);
      expect(body.error.code, path).toBe('invalid_request');
      expect(body.error.message, path).not.toMatch(/constant|anyOf/);
      expect(body.error.message, path).toContain('querystring/state must be one of');
      for (const state of SYNC_STATES) expect(body.error.message, path).toContain(state);
      // Said once, not once per value the field could have had.
      expect(body.error.message.split('querystring/state').length, path).toBe(2);
    }
  });

  it('says a field given twice takes one value', async () => {
    const { status, body } = await get('/admin/api/users?state=in_step&state=changed');
    expect(status).toBe(400);
    expect(body.error.message).not.toMatch(/constant|anyOf|must be string/);
    expect(body.error.message).toContain('querystring/state must be one of');
  });

  it('names a body field the route does not take', async () => {
    const response = await fetch(`${server.baseUrl}/admin/api/settings`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ bogus: 1 }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toContain('"bogus"');
  });

  it('says the folder address of the picture library names no file, instead of "There is no file  in"', async () => {
    for (const path of ['/User%20Photos/Profile%20Pictures/', '/User%20Photos/Profile%20Pictures/%20']) {
      const { status, body } = await get(path);
      expect(status, path).toBe(404);
      expect(body.error.message, path).not.toContain('file  in');
      expect(body.error.message, path).toContain('Name a file of /User Photos/Profile Pictures');
    }
  });

  it('says on a page opened by its address that the address is not right, not to check a form', async () => {
    const admin = await makeUser(context.services, { isAdmin: true });
    const client = new HttpClient(server.baseUrl, 'et');
    await client.signIn(admin.upn, 'correct horse battery');
    const page = await client.request('GET', '/admin/users?after=zzz');
    expect(page.status).toBe(400);
    expect(pageMessage(page.body)).toBe(translator('et')('error.badAddress'));
  });
});
