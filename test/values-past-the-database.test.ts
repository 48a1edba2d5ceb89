import { beforeAll, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import type { DirectoryUser } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import { appToken, bearer } from './support/apps.js';
import { makeUser, tokenFor } from './support/factories.js';
import { FormClient } from './support/form-client.js';
import { describeEachDialect, useTestApp } from './support/services.js';

// Values that pass the routes' schemas but that PostgreSQL refuses when they reach a query: a NUL
// in a text parameter and integers past bigint. SQLite stores both; PostgreSQL raised an error,
// which came back as a 500 (internal_error, generalException). Each is a clear 400 instead, on
// both databases.

const PASSWORD = 'correct horse battery';

/** A cursor as the users table hands them out: base64url of a JSON array. */
const cursor = (value: unknown[]) => Buffer.from(JSON.stringify(value)).toString('base64url');

describeEachDialect('values past what the database takes', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  let admin: DirectoryUser;
  let adminToken: string;
  beforeAll(async () => {
    ({ services, app } = context);
    admin = await makeUser(services, { isAdmin: true, password: PASSWORD });
    adminToken = await tokenFor(services, admin);
    for (let i = 0; i < 3; i++) await makeUser(services, { displayName: `Cursor Person ${i}` });
  });

  it('a users-table cursor with a NUL or a number past bigint is refused as an invalid cursor', async () => {
    const cursors: Array<[string, unknown[]]> = [
      ['action', [1e30, 1e30, 'x']],
      ['action', [2 ** 63, 1, 'x']],
      ['waiting', [-1e30, 'x']],
      ['name', ['\u0000', 'x']],
      ['upn', ['a', '\u0000']],
    ];
    const browser = new FormClient(app, 'en');
    await browser.signIn(admin.upn, PASSWORD);
    for (const [sort, value] of cursors) {
      const what = `${sort} ${JSON.stringify(value)}`;
      const api = await app.inject({
        url: `/admin/api/users?sort=${sort}&after=${cursor(value)}`,
        headers: bearer(adminToken),
      });
      expect(api.statusCode, what).toBe(400);
      expect(api.json().error.code, what).toBe('invalid_cursor');
      const page = await browser.request('GET', `/admin/users?sort=${sort}&after=${cursor(value)}`);
      expect(page.statusCode, what).toBe(400);
    }
    // A real cursor still pages.
    const first = await app.inject({ url: '/admin/api/users?sort=name&limit=1', headers: bearer(adminToken) });
    const next = first.json<{ next: string | null }>().next;
    if (next) {
      const second = await app.inject({ url: `/admin/api/users?sort=name&after=${next}`, headers: bearer(adminToken) });
      expect(second.statusCode).toBe(200);
    }
  });

  it('an audit-log position past the largest id is a 400, not a database error', async () => {
    const browser = new FormClient(app, 'en');
    await browser.signIn(admin.upn, PASSWORD);
    for (const before of ['99999999999999999999', '9223372036854775808']) {
      const api = await app.inject({ url: `/admin/api/audit?before=${before}`, headers: bearer(adminToken) });
      expect(api.statusCode, before).toBe(400);
      expect(api.json().error.code, before).toBe('invalid_request');
      expect((await browser.request('GET', `/admin/audit?before=${before}`)).statusCode, before).toBe(400);
    }
    expect((await app.inject({ url: '/admin/api/audit?before=1', headers: bearer(adminToken) })).statusCode).toBe(200);
  });

  it('a library file name or a Graph $filter value with a NUL is refused, not a 500', async () => {
    const file = await app.inject({
      url: '/User%20Photos/Profile%20Pictures/a%00b_contoso_com_MThumb.jpg',
      headers: bearer(adminToken),
    });
    expect(file.statusCode).toBe(404);

    const reader = await appToken(services, ['User.ReadBasic.All']);
    for (const filter of ["startswith(displayName,'a\u0000')", "userPrincipalName eq 'a\u0000b@contoso.com'"]) {
      const response = await app.inject({
        url: `/v1.0/users?$filter=${encodeURIComponent(filter)}`,
        headers: bearer(reader),
      });
      expect(response.statusCode, JSON.stringify(filter)).toBe(400);
      expect(response.json().error.code, JSON.stringify(filter)).toBe('BadRequest');
    }
  });
});
