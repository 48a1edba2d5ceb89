import { decodeJwt } from 'jose';
import { beforeAll, expect, it } from 'vitest';
import { createApp, redirectUriIsRegistered, redirectUriIsSpa, removeApp } from '../src/directory/apps.js';
import { tenantId } from '../src/directory/settings.js';
import { verifyAccessToken } from '../src/directory/tokens.js';
import { findUserByUpn } from '../src/directory/users.js';
import type { App } from '../src/app.js';
import type { Services } from '../src/services.js';
import { bearer } from './support/apps.js';
import { runCommand } from './support/cli.js';
import { makeUser } from './support/factories.js';
import { describeEachDialect, openTestServices, useTestApp } from './support/services.js';

// App registrations and Entra's token endpoint: the response and error shapes, the claims, and
// that tokens are checked for signature, audience, expiry and a still-registered app.

const ENTRA_ERROR = {
  error: expect.any(String),
  error_description: expect.stringMatching(/^AADSTS\d+: /),
  error_codes: [expect.any(Number)],
  timestamp: expect.any(String),
  trace_id: expect.any(String),
  correlation_id: expect.any(String),
};

describeEachDialect('app registrations and the token endpoint', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  let tenant: string;
  beforeAll(async () => {
    ({ services, app } = context);
    tenant = await tenantId(services.database.db);
    await makeUser(services, { upn: `someone@fabrikam-${dialect}.example` });
  });

  const token = (form: Record<string, string>, path = `/${tenant}/oauth2/v2.0/token`, headers = {}) =>
    app.inject({
      method: 'POST',
      url: path,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      payload: new URLSearchParams(form).toString(),
    });

  it('client credentials: Entra’s response shape and claims, by form or HTTP Basic, for every tenant spelling', async () => {
    const registered = await createApp(services.database.db, 'Photo daemon', ['ProfilePhoto.Read.All']);
    const form = {
      grant_type: 'client_credentials',
      client_id: registered.clientId,
      client_secret: registered.secret,
      scope: 'https://graph.microsoft.com/.default',
    };
    for (const path of [tenant, 'organizations', 'common', `fabrikam-${dialect}.example`].map(
      (t) => `/${t}/oauth2/v2.0/token`,
    )) {
      const response = await token(form, path);
      expect(response.statusCode, path).toBe(200);
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.json()).toEqual({
        token_type: 'Bearer',
        expires_in: 3599,
        ext_expires_in: 3599,
        access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      });
    }
    const basic = Buffer.from(`${registered.clientId}:${registered.secret}`).toString('base64');
    const viaBasic = await token(
      { grant_type: 'client_credentials', scope: 'http://localhost:8080/.default' },
      undefined,
      { authorization: `Basic ${basic}` },
    );
    expect(viaBasic.statusCode).toBe(200);
    const claims = decodeJwt(viaBasic.json().access_token);
    expect(claims).toMatchObject({
      aud: 'http://localhost:8080',
      iss: `http://localhost:8080/${tenant}/v2.0`,
      tid: tenant,
      sub: registered.clientId,
      appid: registered.clientId,
      idtyp: 'app',
      roles: ['ProfilePhoto.Read.All'],
    });
    expect(claims.exp! - claims.iat!).toBe(3599);
  });

  it('refuses bad requests with Entra’s error body and status', async () => {
    const registered = await createApp(services.database.db, 'Another daemon', ['ProfilePhoto.ReadWrite.All']);
    const good = {
      grant_type: 'client_credentials',
      client_id: registered.clientId,
      client_secret: registered.secret,
      scope: 'https://graph.microsoft.com/.default',
    };
    const cases: Array<[Record<string, string>, string | undefined, number, string, number]> = [
      [{ ...good, client_secret: 'wrong' }, undefined, 401, 'invalid_client', 7000215],
      // Entra names an unknown client id before it looks at the secret.
      [{ ...good, client_id: '00000000-0000-0000-0000-000000000000' }, undefined, 400, 'unauthorized_client', 700016],
      [{ ...good, client_secret: '' }, undefined, 401, 'invalid_client', 7000216],
      [
        { ...good, grant_type: 'urn:ietf:params:oauth:grant-type:device_code' },
        undefined,
        400,
        'unsupported_grant_type',
        70003,
      ],
      [{ ...good, grant_type: '' }, undefined, 400, 'invalid_request', 900144],
      [{ ...good, scope: '' }, undefined, 400, 'invalid_request', 900144],
      [{ ...good, scope: 'User.Read' }, undefined, 400, 'invalid_scope', 1002012],
      [{ ...good, scope: 'https://outlook.office.com/.default' }, undefined, 400, 'invalid_resource', 500011],
      [good, '/contoso.invalid/oauth2/v2.0/token', 400, 'invalid_request', 90002],
      [good, '/not a tenant/oauth2/v2.0/token', 400, 'invalid_request', 90002],
    ];
    for (const [form, path, status, error, code] of cases) {
      const response = await token(form, path);
      expect(response.statusCode, JSON.stringify(form)).toBe(status);
      expect(response.json()).toEqual(ENTRA_ERROR);
      expect([response.json().error, response.json().error_codes[0]]).toEqual([error, code]);
    }
    // Entra reads a form only: the same fields as JSON are no parameters at all.
    const asJson = await app.inject({
      method: 'POST',
      url: `/${tenant}/oauth2/v2.0/token`,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(good),
    });
    expect([asJson.statusCode, asJson.json().error_codes]).toEqual([400, [900144]]);
    expect(asJson.json().error_description).toContain("'grant_type'");
  });

  it('password grant: a delegated token with the scopes asked for, usable on Graph', async () => {
    const registered = await createApp(services.database.db, 'Script', ['User.Read'], { publicClient: true });
    const user = await makeUser(services);
    const form = {
      grant_type: 'password',
      client_id: registered.clientId,
      username: user.upn,
      password: 'correct horse battery',
      scope: 'https://graph.microsoft.com/User.Read openid',
    };
    const granted = await token(form);
    expect(granted.statusCode).toBe(200);
    // The granted scope in the client's own spelling, as Entra answers it.
    expect(granted.json().scope).toBe('https://graph.microsoft.com/User.Read openid');
    expect(decodeJwt(granted.json().access_token)).toMatchObject({ idtyp: 'user', scp: 'User.Read', upn: user.upn });
    const me = await app.inject({ url: '/v1.0/me', headers: bearer(granted.json().access_token) });
    expect(me.json().userPrincipalName).toBe(user.upn);
    const wrong = await token({ ...form, password: 'not the password' });
    expect([wrong.statusCode, wrong.json().error]).toEqual([400, 'invalid_grant']);
    // The right password through an app nobody registered gets no token.
    const unknownApp = await token({ ...form, client_id: 'b0b0b0b0-0000-4000-8000-000000000000' });
    expect([unknownApp.statusCode, unknownApp.json().error, unknownApp.json().error_codes[0]]).toEqual([
      400,
      'unauthorized_client',
      700016,
    ]);
    const badScope = await token({ ...form, scope: 'Mail.Read' });
    expect([badScope.statusCode, badScope.json().error]).toEqual([400, 'invalid_scope']);
    // A Graph token is for Graph; the sites' pictures take a token for SharePoint, as in Microsoft 365.
    const pictureUrl = `/_layouts/15/userphoto.aspx?size=S&accountname=${user.upn}`;
    const withGraphToken = await app.inject({ url: pictureUrl, headers: bearer(granted.json().access_token) });
    expect(withGraphToken.statusCode).toBe(401);
    const forSites = await token({ ...form, scope: 'https://contoso-my.sharepoint.com/.default' });
    expect(forSites.statusCode).toBe(200);
    expect(decodeJwt(forSites.json().access_token)).toMatchObject({ aud: '00000003-0000-0ff1-ce00-000000000000' });
    const picture = await app.inject({ url: pictureUrl, headers: bearer(forSites.json().access_token) });
    expect(picture.statusCode).toBe(200);
    const graphWithSitesToken = await app.inject({ url: '/v1.0/me', headers: bearer(forSites.json().access_token) });
    expect(graphWithSitesToken.statusCode).toBe(401);

    // Guessing is throttled as on the sign-in form: after five failures even the right password waits.
    for (let i = 0; i < 4; i++) expect((await token({ ...form, password: `guess ${i}` })).statusCode).toBe(400);
    const locked = await token(form);
    expect([locked.statusCode, locked.json().error_codes[0]]).toEqual([400, 50053]);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('apps redirect-uri adds a web app’s or a single-page app’s redirect URI, changes its platform, removes it, and records each', async () => {
    const env = context.store.env;
    const added = await runCommand(['apps', 'add', 'Intranet', '--scopes', 'User.Read'], env);
    const clientId = /client id:\s+(\S+)/.exec(added.stdout)![1]!;
    const uri = 'https://intranet.contoso.com/auth';
    const web = await runCommand(['apps', 'redirect-uri', clientId, 'add', uri], env);
    expect([web.code, web.stdout]).toEqual([
      0,
      expect.stringContaining(`Added ${uri} to app "Intranet" as a web app's`),
    ]);
    const { db } = services.database;
    expect(await redirectUriIsRegistered(db, clientId, uri)).toBe(true);
    expect(await redirectUriIsSpa(db, clientId, uri)).toBe(false);
    const listed = async () =>
      (await runCommand(['apps', 'list'], env)).stdout.split('\n').find((l) => l.includes(clientId));
    expect(await listed()).toContain(`${uri} (web)`);
    const spa = await runCommand(['apps', 'redirect-uri', clientId, 'add', uri, '--spa'], env);
    expect(spa.stdout).toContain(`is now a single-page app's redirect URI`);
    expect(await redirectUriIsSpa(db, clientId, uri)).toBe(true);
    expect(await listed()).toContain(`${uri} (single-page app)`);
    const same = await runCommand(['apps', 'redirect-uri', clientId, 'add', uri, '--spa'], env);
    expect(same.stdout).toContain('nothing changed');
    const removed = await runCommand(['apps', 'redirect-uri', clientId, 'remove', uri], env);
    expect([removed.code, removed.stdout]).toEqual([0, expect.stringContaining(`Removed the redirect URI ${uri}`)]);
    expect(await redirectUriIsRegistered(db, clientId, uri)).toBe(false);
    // Mistakes say what to do, and change nothing.
    const gone = await runCommand(['apps', 'redirect-uri', clientId, 'remove', uri], env);
    expect([gone.code, gone.stderr]).toEqual([1, expect.stringContaining('has no redirect URI')]);
    const insecure = await runCommand(['apps', 'redirect-uri', clientId, 'add', 'http://intranet.contoso.com/'], env);
    expect([insecure.code, insecure.stderr]).toEqual([2, expect.stringContaining('must use https')]);
    const withPassword = await runCommand(
      ['apps', 'redirect-uri', clientId, 'add', 'https://u:p@intranet.contoso.com/'],
      env,
    );
    expect([withPassword.code, withPassword.stderr]).toEqual([2, expect.stringContaining('user name or password')]);
    const removeSpa = await runCommand(['apps', 'redirect-uri', clientId, 'remove', uri, '--spa'], env);
    expect([removeSpa.code, removeSpa.stderr]).toEqual([2, expect.stringContaining('--spa is for add')]);
    const unclear = await runCommand(['apps', 'redirect-uri', clientId, 'put', uri], env);
    expect([unclear.code, unclear.stderr]).toEqual([2, expect.stringContaining('Say add or remove')]);
    const nobody = await runCommand(['apps', 'redirect-uri', 'b0b0b0b0-0000-4000-8000-000000000000', 'add', uri], env);
    expect([nobody.code, nobody.stderr]).toEqual([1, expect.stringContaining('There is no app with client id')]);
    const audit = await db
      .selectFrom('admin_audit')
      .select('detail')
      .where('action', '=', 'app_redirect_uri_set')
      .orderBy('id')
      .execute();
    expect(audit.map((row) => JSON.parse(row.detail) as Record<string, unknown>)).toEqual([
      { name: 'Intranet', clientId, uri, spa: false },
      { name: 'Intranet', clientId, uri, spa: true },
      { name: 'Intranet', clientId, uri, removed: true },
    ]);
  });

  it('the password grant without the secret only for an app that allows public client flows, as in Entra', async () => {
    const env = context.store.env;
    const added = await runCommand(['apps', 'add', 'Payroll script', '--scopes', 'User.Read'], env);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain('public client:  no');
    const clientId = /client id:\s+(\S+)/.exec(added.stdout)![1]!;
    const secret = /client secret:\s+(\S+)/.exec(added.stdout)![1]!;
    const user = await makeUser(services);
    const form = {
      grant_type: 'password',
      client_id: clientId,
      username: user.upn,
      password: 'correct horse battery',
      scope: 'https://graph.microsoft.com/User.Read',
    };
    // A client id is no secret: alone it does not stand in for the app.
    const alone = await token(form);
    expect([alone.statusCode, alone.json().error, alone.json().error_codes]).toEqual([
      401,
      'invalid_client',
      [7000218],
    ]);
    expect(alone.json().error_description).toContain(`photosync apps public-client ${clientId} on`);
    expect((await token({ ...form, client_secret: secret })).statusCode).toBe(200);
    // The refusal is not a failed password: it counts no guess.
    for (let i = 0; i < 6; i++) expect((await token(form)).statusCode).toBe(401);
    expect((await token({ ...form, client_secret: secret })).statusCode).toBe(200);

    const on = await runCommand(['apps', 'public-client', clientId, 'on'], env);
    expect(on.code, on.stderr).toBe(0);
    expect(on.stdout).toContain('now allows public client flows');
    expect((await token(form)).statusCode).toBe(200);
    expect((await runCommand(['apps', 'list'], env)).stdout).toMatch(new RegExp(`${clientId}.*Payroll script.*yes`));

    // A refresh token got without the secret while it was allowed...
    const withRefresh = await token({ ...form, scope: `${form.scope} offline_access` });
    const refresh = (refreshToken: string, extra: Record<string, string> = {}) =>
      token({ grant_type: 'refresh_token', client_id: clientId, refresh_token: refreshToken, ...extra });
    const refreshed = await refresh(withRefresh.json().refresh_token);
    expect(refreshed.statusCode).toBe(200);

    const off = await runCommand(['apps', 'public-client', clientId, 'OFF'], env);
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout).toContain('and so does refreshing the refresh tokens it gave without one');
    expect((await token(form)).statusCode).toBe(401);
    // ...is refreshed without it no more, and with it still.
    const stopped = await refresh(refreshed.json().refresh_token);
    expect([stopped.statusCode, stopped.json().error_codes]).toEqual([401, [7000218]]);
    expect(stopped.json().error_description).toContain('no longer allows public client flows');
    expect((await refresh(refreshed.json().refresh_token, { client_secret: secret })).statusCode).toBe(200);
    const again = await runCommand(['apps', 'public-client', clientId, 'off'], env);
    expect(again.stdout).toContain('already does not allow public client flows; nothing changed.');

    const unknown = await runCommand(['apps', 'public-client', 'b0b0b0b0-0000-4000-8000-000000000000', 'on'], env);
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringContaining('There is no app with client id')]);
    const unclear = await runCommand(['apps', 'public-client', clientId, 'yes'], env);
    expect([unclear.code, unclear.stderr]).toEqual([2, expect.stringContaining('Say on')]);

    // Registered as a public client from the start, and written in the audit log both times.
    const publicApp = await runCommand(['apps', 'add', 'Desktop app', '--scopes', 'User.Read', '--public-client'], env);
    expect(publicApp.stdout).toContain('public client:  yes');
    const publicId = /client id:\s+(\S+)/.exec(publicApp.stdout)![1]!;
    expect((await token({ ...form, client_id: publicId })).statusCode).toBe(200);
    const audit = await services.database.db
      .selectFrom('admin_audit')
      .select(['action', 'detail'])
      .where('action', 'in', ['app_public_client_set', 'app_added'])
      .orderBy('id')
      .execute();
    expect(audit.map((row) => [row.action, JSON.parse(row.detail)])).toEqual(
      expect.arrayContaining([
        ['app_public_client_set', { name: 'Payroll script', clientId, allowed: true }],
        ['app_public_client_set', { name: 'Payroll script', clientId, allowed: false }],
        ['app_added', expect.objectContaining({ name: 'Desktop app', publicClient: true })],
      ]),
    );
  });

  it('tokens survive a restart and work on a second instance; a removed app’s tokens stop working', async () => {
    const registered = await createApp(services.database.db, 'Shared daemon', ['ProfilePhoto.Read.All']);
    const response = await token({
      grant_type: 'client_credentials',
      client_id: registered.clientId,
      client_secret: registered.secret,
      scope: 'https://graph.microsoft.com/.default',
    });
    const accessToken = response.json().access_token as string;
    const second = await openTestServices(context.store);
    try {
      const check = await verifyAccessToken(
        { db: second.database.db, publicUrl: second.config.publicUrl },
        accessToken,
      );
      expect(check).toMatchObject({ ok: true, subject: { kind: 'app', app: { clientId: registered.clientId } } });
      const elsewhere = await verifyAccessToken(
        { db: second.database.db, publicUrl: 'https://photos.contoso.com' },
        accessToken,
      );
      expect(elsewhere.ok).toBe(false);
    } finally {
      await second.close();
    }
    const user = await makeUser(services);
    const read = () => app.inject({ url: `/v1.0/users/${user.upn}`, headers: bearer(accessToken) });
    expect((await read()).statusCode).toBe(200);
    await removeApp(services.database.db, registered.clientId);
    const after = await read();
    expect([after.statusCode, after.json().error.code]).toEqual([401, 'InvalidAuthenticationToken']);
  });

  it('photosync apps add and remove, token create --scopes', async () => {
    const env = context.store.env;
    const added = await runCommand(['apps', 'add', 'HR sync', '--scopes', 'ProfilePhoto.ReadWrite.All'], env);
    expect(added.code, added.stderr).toBe(0);
    const clientId = /client id:\s+(\S+)/.exec(added.stdout)?.[1];
    const secret = /client secret:\s+(\S+)/.exec(added.stdout)?.[1];
    expect(added.stdout).toContain(`tenant id:      ${tenant}`);
    const granted = await token({
      grant_type: 'client_credentials',
      client_id: clientId!,
      client_secret: secret!,
      scope: 'https://graph.microsoft.com/.default',
    });
    expect(granted.statusCode).toBe(200);

    const user = await makeUser(services);
    const created = await runCommand(['token', 'create', user.upn, '--scopes', 'User.Read'], env);
    expect(created.code, created.stderr).toBe(0);
    const userToken = created.stdout.trim().split('\n').pop()!;
    const other = await makeUser(services);
    expect((await app.inject({ url: '/v1.0/me', headers: bearer(userToken) })).statusCode).toBe(200);
    expect((await app.inject({ url: `/v1.0/users/${other.upn}`, headers: bearer(userToken) })).statusCode).toBe(403);
    expect(await findUserByUpn(services.database.db, user.upn)).toBeDefined();

    // Redirect URIs and certificates are checked before anything is registered.
    for (const [flag, value, message] of [
      ['--redirect-uri', 'http://app.example/cb', 'must use https'],
      ['--certificate', '/nonexistent/cert.pem', 'There is no file /nonexistent/cert.pem.'],
    ] as const) {
      const refused = await runCommand(['apps', 'add', 'Bad', '--scopes', 'User.Read', flag, value], env);
      expect(refused.code, refused.stdout).not.toBe(0);
      expect(refused.stderr).toContain(message);
    }
    expect((await runCommand(['apps', 'list'], env)).stdout).not.toContain('Bad');

    const removed = await runCommand(['apps', 'remove', clientId!], env);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`Removed app ${clientId}`);
    // A removed app is no longer in the directory: its secret is not even looked at.
    const afterRemoval = await token({
      grant_type: 'client_credentials',
      client_id: clientId!,
      client_secret: secret!,
      scope: 'https://graph.microsoft.com/.default',
    });
    expect(afterRemoval.statusCode).toBe(400);
    expect(afterRemoval.json()).toMatchObject({ error: 'unauthorized_client', error_codes: [700016] });
  });
});
