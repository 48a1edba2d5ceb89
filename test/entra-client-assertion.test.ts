import { X509Certificate, createHash, createPrivateKey, randomUUID } from 'node:crypto';
import { SignJWT, decodeJwt } from 'jose';
import { beforeAll, expect, it } from 'vitest';
import { selfSignedCertificate } from '../src/cli/commands/dev-cert.js';
import { createApp } from '../src/directory/apps.js';
import { tenantId } from '../src/directory/settings.js';
import type { App } from '../src/app.js';
import type { Services } from '../src/services.js';
import { bearer } from './support/apps.js';
import { makeUser } from './support/factories.js';
import { describeEachDialect, useTestApp } from './support/services.js';

// Client assertions: a JWT signed with the key of a certificate registered for the app, naming
// the certificate as MSAL does (`x5t#S256`, PS256) or as older clients do (`x5t`, RS256), with
// Entra's errors for each way it can be wrong. SharePoint takes app-only tokens only from them.

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const PUBLIC_URL = 'http://localhost:8080';

describeEachDialect('client assertions with a registered certificate', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  let tenant: string;
  const own = selfSignedCertificate('photo daemon');
  const thumbprint = (pem: string, hash: 'sha1' | 'sha256') =>
    createHash(hash).update(new X509Certificate(pem).raw).digest('base64url');
  beforeAll(async () => {
    ({ services, app } = context);
    tenant = await tenantId(services.database.db);
  });

  const assertion = (
    clientId: string,
    options: {
      key?: string;
      alg?: 'PS256' | 'RS256';
      header?: Record<string, string>;
      aud?: string;
      iss?: string;
      exp?: number;
    } = {},
  ) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({
        alg: options.alg ?? 'PS256',
        typ: 'JWT',
        ...(options.header ?? { 'x5t#S256': thumbprint(own.certificate, 'sha256') }),
      })
      .setIssuer(options.iss ?? clientId)
      .setSubject(options.iss ?? clientId)
      .setAudience(options.aud ?? `${PUBLIC_URL}/${tenant}/oauth2/v2.0/token`)
      .setNotBefore(now)
      .setIssuedAt(now)
      .setExpirationTime(options.exp ?? now + 600)
      .sign(createPrivateKey(options.key ?? own.privateKey));
  };
  const token = (clientId: string, jwt: string, scope = 'https://graph.microsoft.com/.default', path = tenant) =>
    app.inject({
      method: 'POST',
      url: `/${path}/oauth2/v2.0/token`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: jwt,
        scope,
      }).toString(),
    });

  it('takes MSAL’s form (x5t#S256, PS256) and the older one (x5t, RS256), at the token endpoint it was posted to', async () => {
    const registered = await createApp(services.database.db, 'Cert daemon', ['ProfilePhoto.Read.All'], {
      certificates: [own.certificate],
    });
    const msalForm = await token(registered.clientId, await assertion(registered.clientId));
    expect(msalForm.statusCode, msalForm.body).toBe(200);
    expect(decodeJwt(msalForm.json().access_token)).toMatchObject({ azpacr: '2', roles: ['ProfilePhoto.Read.All'] });
    const older = await token(
      registered.clientId,
      await assertion(registered.clientId, { alg: 'RS256', header: { x5t: thumbprint(own.certificate, 'sha1') } }),
    );
    expect(older.statusCode, older.body).toBe(200);
    // Posted to the organizations endpoint, the assertion names that endpoint.
    const viaOrganizations = await token(
      registered.clientId,
      await assertion(registered.clientId, { aud: `${PUBLIC_URL}/organizations/oauth2/v2.0/token` }),
      undefined,
      'organizations',
    );
    expect(viaOrganizations.statusCode, viaOrganizations.body).toBe(200);
  });

  it('refuses what Entra refuses, with its codes', async () => {
    const registered = await createApp(services.database.db, 'Strict daemon', ['ProfilePhoto.Read.All'], {
      certificates: [selfSignedCertificate('strict').certificate],
    });
    const other = await createApp(services.database.db, 'Other daemon', ['ProfilePhoto.Read.All'], {
      certificates: [own.certificate],
    });
    const stranger = selfSignedCertificate('stranger');
    const cases: Array<[string, Promise<string>, number]> = [
      [
        'a certificate nobody registered',
        assertion(registered.clientId, {
          key: stranger.privateKey,
          header: { 'x5t#S256': thumbprint(stranger.certificate, 'sha256') },
        }),
        700027,
      ],
      ['another app’s certificate', assertion(registered.clientId), 700027],
      ['signed by another key', assertion(other.clientId, { key: stranger.privateKey }), 700027],
      [
        'for another audience',
        assertion(other.clientId, { aud: 'https://login.microsoftonline.com/common/oauth2/v2.0/token' }),
        700023,
      ],
      ['expired', assertion(other.clientId, { exp: Math.floor(Date.now() / 1000) - 3600 }), 700024],
      ['issued by someone else', assertion(other.clientId, { iss: registered.clientId }), 700021],
      ['not a JWT', Promise.resolve('not.a.jwt'), 50027],
    ];
    for (const [label, jwt, code] of cases) {
      const clientId =
        label === 'a certificate nobody registered' || label === 'another app’s certificate'
          ? registered.clientId
          : other.clientId;
      const response = await token(clientId, await jwt);
      expect([response.statusCode, response.json().error, response.json().error_codes], label).toEqual([
        401,
        'invalid_client',
        [code],
      ]);
      expect(response.body, label).not.toContain('access_token');
    }
  });

  it('SharePoint takes an app-only token from a certificate, not from a secret; Graph takes both', async () => {
    const registered = await createApp(services.database.db, 'Sites daemon', ['ProfilePhoto.Read.All'], {
      certificates: [selfSignedCertificate('sites').certificate],
    });
    const sitesCert = selfSignedCertificate('sites 2');
    const withCert = await createApp(services.database.db, 'Sites daemon 2', ['ProfilePhoto.Read.All'], {
      certificates: [sitesCert.certificate],
    });
    const user = await makeUser(services);
    const sharePointScope = 'https://contoso-my.sharepoint.com/.default';
    const bySecret = await app.inject({
      method: 'POST',
      url: `/${tenant}/oauth2/v2.0/token`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: registered.clientId,
        client_secret: registered.secret,
        scope: sharePointScope,
      }).toString(),
    });
    const byCert = await token(
      withCert.clientId,
      await assertion(withCert.clientId, {
        key: sitesCert.privateKey,
        header: { 'x5t#S256': thumbprint(sitesCert.certificate, 'sha256') },
      }),
      sharePointScope,
    );
    const properties = (accessToken: string) =>
      app.inject({
        url: `/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)?@v='${encodeURIComponent(`i:0#.f|membership|${user.upn}`)}'`,
        headers: { ...bearer(accessToken), accept: 'application/json;odata=nometadata' },
      });
    expect((await properties(bySecret.json().access_token)).statusCode).toBe(401);
    expect((await properties(byCert.json().access_token)).statusCode).toBe(200);
  });
});
