import { SignJWT, createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { CompiledQuery, sql } from 'kysely';
import { beforeAll, expect, it } from 'vitest';
import { createApp } from '../src/directory/apps.js';
import { tenantId } from '../src/directory/settings.js';
import { rotateSigningKey, rs256Since } from '../src/directory/signing-keys.js';
import { domainLookup } from '../src/directory/tenants.js';
import { issuerFor } from '../src/directory/tokens.js';
import type { App } from '../src/app.js';
import type { Services } from '../src/services.js';
import { bearer } from './support/apps.js';
import { makeUser } from './support/factories.js';
import { describeEachDialect, openTestServices, useTestApp } from './support/services.js';
import { buildApp } from '../src/app.js';

// OpenID Connect discovery, the signing keys and RS256 tokens, as a client that trusts only the
// published metadata checks them (jose against the JWKS); key rotation across instances; the
// HS256 tokens of before; and the tenant lookup by domain through its index.

const PUBLIC_URL = 'http://localhost:8080';
const ENTRA_ERROR = {
  error: expect.any(String),
  error_description: expect.stringMatching(/^AADSTS\d+: .*\r\nTrace ID: .*\r\nCorrelation ID: .*\r\nTimestamp: /s),
  error_codes: [expect.any(Number)],
  timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/),
  trace_id: expect.any(String),
  correlation_id: expect.any(String),
};

describeEachDialect('OpenID Connect discovery and RS256 tokens', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  let tenant: string;
  beforeAll(async () => {
    ({ services, app } = context);
    tenant = await tenantId(services.database.db);
    await makeUser(services, { upn: `someone@discovery-${dialect}.example` });
  });

  const get = async (url: string) => app.inject({ url });
  const clientCredentials = async (clientId: string, secret: string, scope = 'https://graph.microsoft.com/.default') =>
    app.inject({
      method: 'POST',
      url: `/${tenant}/oauth2/v2.0/token`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: secret,
        scope,
      }).toString(),
    });

  it('publishes the tenant’s metadata for every spelling of the tenant, and refuses other tenants', async () => {
    for (const [segment, issuerTenant, base] of [
      [tenant, tenant, tenant],
      [`discovery-${dialect}.example`, tenant, tenant],
      ['organizations', '{tenantid}', 'organizations'],
      ['common', '{tenantid}', 'common'],
    ] as const) {
      for (const path of [
        `/${segment}/v2.0/.well-known/openid-configuration`,
        `/${segment}/.well-known/openid-configuration`,
      ]) {
        const response = await get(path);
        expect(response.statusCode, path).toBe(200);
        expect(response.headers['access-control-allow-origin']).toBe('*');
        expect(response.json()).toMatchObject({
          issuer: `${PUBLIC_URL}/${issuerTenant}/v2.0`,
          authorization_endpoint: `${PUBLIC_URL}/${base}/oauth2/v2.0/authorize`,
          token_endpoint: `${PUBLIC_URL}/${base}/oauth2/v2.0/token`,
          jwks_uri: `${PUBLIC_URL}/${base}/discovery/v2.0/keys`,
          id_token_signing_alg_values_supported: ['RS256'],
          response_modes_supported: ['query', 'fragment', 'form_post'],
        });
      }
    }
    const unknown = await get('/nosuch.example/v2.0/.well-known/openid-configuration');
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toEqual(ENTRA_ERROR);
    expect(unknown.json().error_codes).toEqual([90002]);
  });

  it('answers instance discovery for its own host only, as Entra does for its hosts', async () => {
    const ask = (endpoint: string) =>
      get(`/common/discovery/instance?api-version=1.1&authorization_endpoint=${encodeURIComponent(endpoint)}`);
    const ours = await ask(`${PUBLIC_URL}/${tenant}/oauth2/v2.0/authorize`);
    expect(ours.statusCode).toBe(200);
    expect(ours.json()).toEqual({
      tenant_discovery_endpoint: `${PUBLIC_URL}/${tenant}/v2.0/.well-known/openid-configuration`,
      'api-version': '1.1',
      metadata: [
        { preferred_network: 'localhost:8080', preferred_cache: 'localhost:8080', aliases: ['localhost:8080'] },
      ],
    });
    const theirs = await ask('https://login.example.com/common/oauth2/v2.0/authorize');
    expect([theirs.statusCode, theirs.json().error, theirs.json().error_codes]).toEqual([
      400,
      'invalid_instance',
      [50049],
    ]);
  });

  it('signs access tokens with RS256 and a published kid; a verifier with only the metadata accepts them', async () => {
    const registered = await createApp(services.database.db, 'Verified daemon', ['ProfilePhoto.Read.All']);
    const response = await clientCredentials(registered.clientId, registered.secret);
    expect(response.statusCode).toBe(200);
    const token = response.json().access_token as string;
    const header = decodeProtectedHeader(token);
    expect(header).toMatchObject({ alg: 'RS256', typ: 'JWT', kid: expect.any(String) });
    const metadata = (await get(`/${tenant}/v2.0/.well-known/openid-configuration`)).json();
    const jwks = (await get(new URL(metadata.jwks_uri).pathname)).json();
    expect(jwks.keys.map((k: { kid: string }) => k.kid)).toContain(header.kid);
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
      issuer: metadata.issuer,
      audience: 'https://graph.microsoft.com',
      algorithms: ['RS256'],
    });
    expect(payload).toMatchObject({
      tid: tenant,
      oid: registered.clientId,
      appid: registered.clientId,
      azp: registered.clientId,
      azpacr: '1',
      idtyp: 'app',
      roles: ['ProfilePhoto.Read.All'],
      ver: '2.0',
    });
    // The SharePoint form of the scope gives SharePoint's audience; this server's own URL its own.
    const sites = await clientCredentials(
      registered.clientId,
      registered.secret,
      'https://contoso-my.sharepoint.com/.default',
    );
    expect((await jwtVerify(sites.json().access_token, createLocalJWKSet(jwks))).payload.aud).toBe(
      '00000003-0000-0ff1-ce00-000000000000',
    );
    const own = await clientCredentials(registered.clientId, registered.secret, `${PUBLIC_URL}/.default`);
    expect((await jwtVerify(own.json().access_token, createLocalJWKSet(jwks))).payload.aud).toBe(PUBLIC_URL);
  });

  it('rotates keys: the new one signs, the old one stays published, and another instance follows', async () => {
    const { db } = services.database;
    const registered = await createApp(db, 'Rotating daemon', ['ProfilePhoto.Read.All']);
    const user = await makeUser(services);
    const before = (await clientCredentials(registered.clientId, registered.secret)).json().access_token as string;
    const second = await openTestServices(context.store);
    const secondApp = await buildApp(second);
    try {
      const read = (server: App, token: string) =>
        server.inject({ url: `/v1.0/users/${user.upn}`, headers: bearer(token) });
      // The second instance has read the keys once.
      expect((await read(secondApp, before)).statusCode).toBe(200);
      const { kid, retired } = await rotateSigningKey(db);
      expect(retired).toContain(decodeProtectedHeader(before).kid);
      const after = (await clientCredentials(registered.clientId, registered.secret)).json().access_token as string;
      expect(decodeProtectedHeader(after).kid).toBe(kid);
      const published = (await get(`/${tenant}/discovery/v2.0/keys`)).json().keys.map((k: { kid: string }) => k.kid);
      expect(published).toEqual(expect.arrayContaining([kid, decodeProtectedHeader(before).kid]));
      for (const server of [app, secondApp]) {
        expect((await read(server, before)).statusCode).toBe(200);
        expect((await read(server, after)).statusCode).toBe(200);
      }
    } finally {
      await secondApp.close();
      await second.close();
    }
  });

  it('finds a tenant by domain through the index on the UPN’s domain, never by reading every user', async () => {
    const { db } = services.database;
    const now = Date.now();
    const rows = Array.from({ length: 3000 }, (_, i) => ({
      id: `bulk-${dialect}-${i}`,
      upn: `p${i}@bulk${i % 50}.example`,
      display_name: `Bulk ${i}`,
      enabled: 1,
      is_admin: 0,
      has_mailbox: 1,
      password_hash: null,
      created_at: now,
    }));
    for (let i = 0; i < rows.length; i += 500)
      await db
        .insertInto('directory_users')
        .values(rows.slice(i, i + 500))
        .execute();
    if (dialect === 'postgres') await sql`analyze directory_users`.execute(db);
    const compiled = domainLookup(db, dialect, 'nosuch.example').compile();
    const prefix = dialect === 'sqlite' ? 'explain query plan ' : 'explain ';
    const plan = (
      await db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(prefix + compiled.sql, [...compiled.parameters]))
    ).rows
      .map((r) => String(r.detail ?? r['QUERY PLAN']))
      .join('\n');
    if (dialect === 'sqlite') {
      expect(plan).toMatch(/SEARCH directory_users USING (COVERING )?INDEX directory_users_domain/);
    } else {
      expect(plan).toMatch(
        /Index (Only )?Scan using directory_users_domain|Bitmap Index Scan on directory_users_domain/,
      );
      expect(plan).not.toMatch(/Seq Scan/);
    }
    // And the endpoints agree: a known domain is the tenant, an unknown one is not.
    expect((await get('/bulk7.example/v2.0/.well-known/openid-configuration')).statusCode).toBe(200);
    expect((await get('/bulk.example/v2.0/.well-known/openid-configuration')).statusCode).toBe(400);
  });
});

describeEachDialect('HS256 tokens from before RS256', (dialect) => {
  const context = useTestApp(dialect);

  it('keep working until they expire, and no HS256 token made after the switch is accepted', async () => {
    const { services, app } = context;
    const { db } = services.database;
    // A database from before: the HS256 secret exists, no RS256 key yet.
    const secret = Buffer.from('an-old-hs256-secret-of-32-bytes!').toString('base64url');
    await db
      .insertInto('directory_settings')
      .values({ name: 'token_signing_key', value: secret, created_at: Date.now() })
      .execute();
    const registered = await createApp(db, 'Old daemon', ['ProfilePhoto.Read.All']);
    const user = await makeUser(services);
    const tenant = await tenantId(db);
    const hs256 = (iat: number, exp: number) =>
      new SignJWT({
        tid: tenant,
        oid: registered.clientId,
        appid: registered.clientId,
        idtyp: 'app',
        roles: registered.scopes,
      })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(registered.clientId)
        .setIssuer(issuerFor(PUBLIC_URL, tenant))
        .setAudience(PUBLIC_URL)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(new Uint8Array(Buffer.from(secret, 'base64url')));
    const read = (token: string) => app.inject({ url: `/v1.0/users/${user.upn}`, headers: bearer(token) });
    const issued = Math.floor(Date.now() / 1000) - 60;
    const old = await hs256(issued, issued + 3599);
    expect((await read(old)).statusCode).toBe(200);
    const since = Math.floor((await rs256Since(db))! / 1000);
    expect(since).toBeGreaterThanOrEqual(issued);
    // Made with the old secret after the switch, or living longer than tokens ever did: refused.
    expect((await read(await hs256(since + 1, since + 1000))).statusCode).toBe(401);
    expect((await read(await hs256(issued, issued + 86_400))).statusCode).toBe(401);
    // The same old token still works while it lives.
    expect((await read(old)).statusCode).toBe(200);
  });
});
