import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConfidentialClientApplication,
  CryptoProvider,
  InteractionRequiredAuthError,
  ServerError,
  type AuthenticationResult,
} from '@azure/msal-node';
import { decodeJwt } from 'jose';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { selfSignedCertificate } from '../src/cli/commands/dev-cert.js';
import { createApp, removeApp } from '../src/directory/apps.js';
import { tenantId } from '../src/directory/settings.js';
import type { DirectoryUser } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import { chromiumMissing, launchChromium } from './support/chromium.js';
import { closeTo, giveMailPhoto, makeUser, meanColour, solidJpeg } from './support/factories.js';
import { createTestStore, openTestServices, testDialects, type TestStore } from './support/services.js';
import { BIN, freePort, run, startTlsServer, waitForOutput, type TlsServer } from './support/tls-server.js';

// Microsoft's own clients, unchanged, against a real `photosync serve` over TLS: MSAL Node with
// only `authority` and `knownAuthorities`, the Graph SDK, and Chromium signing in on photosync's
// page. The certificate is the test CA's, trusted through NODE_EXTRA_CA_CERTS (test/global-setup.ts).
// MSAL parses every answer itself: an answer in a shape it cannot read fails these tests.

const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));
const PASSWORD = 'correct horse battery';
const TEAL: [number, number, number] = [20, 150, 140];
const HOUR = 3600_000;
const SIGN_IN_BUTTON = 'form[action="/signin"] button[type=submit]';

const browserMissing = chromiumMissing();

for (const dialect of testDialects()) {
  describe(`MSAL Node and the Graph SDK over TLS [${dialect}]`, () => {
    let store: TestStore;
    let services: Services;
    let server: TlsServer;
    let tenant: string;
    let authority: string;
    let jane: DirectoryUser;
    let browser: Browser | undefined;
    let files: string;

    beforeAll(async () => {
      store = await createTestStore(dialect);
      services = await openTestServices(store);
      server = await startTlsServer(store);
      tenant = await tenantId(services.database.db);
      authority = `${server.baseUrl}/${tenant}`;
      jane = await makeUser(services);
      await giveMailPhoto(services, jane, await solidJpeg(TEAL, 400));
      files = fs.mkdtempSync(path.join(store.dataDir, 'client-'));
      if (!browserMissing) browser = await launchChromium([`--ignore-certificate-errors-spki-list=${server.spki}`]);
    }, 60_000);
    afterAll(async () => {
      await browser?.close();
      await server?.stop();
      await services?.close();
      await store?.drop();
    });

    const msalApp = (
      clientId: string,
      credential: { clientSecret: string } | { certificate: string; privateKey: string },
    ) =>
      new ConfidentialClientApplication({
        auth: {
          clientId,
          authority,
          knownAuthorities: [server.host],
          ...('clientSecret' in credential
            ? { clientSecret: credential.clientSecret }
            : {
                clientCertificate: {
                  thumbprintSha256: new X509Certificate(credential.certificate).fingerprint256.replaceAll(':', ''),
                  privateKey: credential.privateKey,
                },
              }),
        },
      });
    const graphGet = (path: string, token: string) =>
      fetch(`${server.baseUrl}/v1.0${path}`, { headers: { authorization: `Bearer ${token}` } });

    it('example: client credentials with a certificate, and with a secret; the Graph SDK reads a photo', async () => {
      const { certificate, privateKey } = selfSignedCertificate('photo daemon');
      const certFile = path.join(files, 'daemon.pem');
      const keyFile = path.join(files, 'daemon-key.pem');
      fs.writeFileSync(certFile, certificate);
      fs.writeFileSync(keyFile, privateKey);
      // Registered the way an operator does it: photosync apps add … --certificate.
      const added = await run(
        [BIN, 'apps', 'add', 'Photo daemon', '--scopes', 'ProfilePhoto.Read.All', '--certificate', certFile],
        server.env,
      );
      expect(added.code, added.stderr).toBe(0);
      const clientId = /client id:\s+(\S+)/.exec(added.stdout)![1]!;
      const secret = /client secret:\s+(\S+)/.exec(added.stdout)![1]!;
      expect(added.stdout).toMatch(/certificate:\s+x5t#S256 [\w-]{43} /);

      const base: Record<string, string> = {
        ...server.env,
        AUTHORITY: authority,
        GRAPH_URL: `${server.baseUrl}/`,
        CLIENT_ID: clientId,
        USER: jane.upn,
      };
      const credentials: Array<Record<string, string>> = [
        { CLIENT_CERTIFICATE: certFile, CLIENT_KEY: keyFile },
        { CLIENT_SECRET: secret },
      ];
      for (const credential of credentials) {
        const out = path.join(files, `photo-${Object.keys(credential)[0]}.jpg`);
        const result = await run([path.join(EXAMPLES, 'msal-client-credentials-certificate/index.mjs')], {
          ...base,
          ...credential,
          OUT: out,
        });
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).toContain(`${jane.upn}: `);
        expect(closeTo(await meanColour(fs.readFileSync(out)), TEAL)).toBe(true);
      }
    }, 60_000);

    it('a command beside the server at its PORT, without its TLS settings, prints the https authority it serves', async () => {
      const { PHOTOSYNC_PUBLIC_URL: _url, PHOTOSYNC_TLS_CERT: _cert, PHOTOSYNC_TLS_KEY: _key, ...beside } = server.env;
      const added = await run([BIN, 'apps', 'add', 'Beside app', '--scopes', 'User.Read'], beside);
      expect(added.code, added.stderr).toBe(0);
      expect(added.stdout).toContain(`${server.baseUrl}/${tenant}`);
      expect(added.stdout).not.toContain('http://localhost');
    });

    it('a certificate that is not registered is refused with Entra’s error, which MSAL reports', async () => {
      const registered = await createApp(services.database.db, 'Cert daemon', ['ProfilePhoto.Read.All'], {
        certificates: [selfSignedCertificate('registered').certificate],
      });
      const stranger = selfSignedCertificate('not registered');
      const error = await msalApp(registered.clientId, stranger)
        .acquireTokenByClientCredential({ scopes: ['https://graph.microsoft.com/.default'] })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(ServerError);
      expect((error as ServerError).errorCode).toBe('invalid_client');
      expect(Number((error as ServerError).errorNo)).toBe(700027);
      expect((error as ServerError).errorMessage).toMatch(
        /AADSTS700027: Client assertion contains an invalid signature/,
      );
    });

    it('a secret for a client id nobody registered is AADSTS700016 (not found in the directory), a wrong secret AADSTS7000215', async () => {
      const acquire = (clientId: string, clientSecret: string) =>
        msalApp(clientId, { clientSecret })
          .acquireTokenByClientCredential({ scopes: ['https://graph.microsoft.com/.default'] })
          .then(
            () => undefined,
            (e: unknown) => e as ServerError,
          );
      const unknownId = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
      const unknown = await acquire(unknownId, 'psc~not-a-secret-of-anyone');
      expect(unknown).toBeInstanceOf(ServerError);
      expect(unknown?.errorCode).toBe('unauthorized_client');
      expect(Number(unknown?.errorNo)).toBe(700016);
      expect(unknown?.errorMessage).toMatch(
        new RegExp(`AADSTS700016: Application with identifier '${unknownId}' was not found in the directory`),
      );
      const registered = await createApp(services.database.db, 'Secret daemon', ['ProfilePhoto.Read.All']);
      const wrong = await acquire(registered.clientId, `${registered.secret}x`);
      expect(wrong).toBeInstanceOf(ServerError);
      expect(wrong?.errorCode).toBe('invalid_client');
      expect(Number(wrong?.errorNo)).toBe(7000215);
    });

    it('an app with a certificate gets Graph and SharePoint tokens by their Microsoft 365 scopes; SharePoint refuses a secret’s', async () => {
      const daemon = selfSignedCertificate('connect daemon');
      const registered = await createApp(services.database.db, 'Connect daemon', ['ProfilePhoto.ReadWrite.All'], {
        certificates: [daemon.certificate],
      });
      const withCertificate = msalApp(registered.clientId, daemon);
      const withSecret = msalApp(registered.clientId, { clientSecret: registered.secret });
      const properties = (token: string) =>
        fetch(
          `${server.baseUrl}/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)?@v='${encodeURIComponent(`i:0#.f|membership|${jane.upn}`)}'`,
          { headers: { authorization: `Bearer ${token}`, accept: 'application/json;odata=nometadata' } },
        );
      const sharePointScopes = ['https://contoso-my.sharepoint.com/.default'];
      const sites = await withCertificate.acquireTokenByClientCredential({ scopes: sharePointScopes });
      const answer = await properties(sites!.accessToken);
      expect(answer.status).toBe(200);
      expect(((await answer.json()) as { AccountName: string }).AccountName).toBe(`i:0#.f|membership|${jane.upn}`);
      const graph = await withCertificate.acquireTokenByClientCredential({
        scopes: ['https://graph.microsoft.com/.default'],
      });
      expect((await graphGet(`/users/${jane.upn}/photo`, graph!.accessToken)).status).toBe(200);
      // Each token is for its own service.
      expect((await properties(graph!.accessToken)).status).toBe(401);
      expect((await graphGet(`/users/${jane.upn}/photo`, sites!.accessToken)).status).toBe(401);
      const bySecret = await withSecret.acquireTokenByClientCredential({ scopes: sharePointScopes });
      expect((await properties(bySecret!.accessToken)).status).toBe(401);
      // Nor under this server's own URL, the audience good on both halves: Graph takes it, the sites do not.
      const ownUrl = await withSecret.acquireTokenByClientCredential({ scopes: [`${server.baseUrl}/.default`] });
      expect((await graphGet(`/users/${jane.upn}/photo`, ownUrl!.accessToken)).status).toBe(200);
      expect((await properties(ownUrl!.accessToken)).status).toBe(401);
    });

    it('a removed app’s token is refused', async () => {
      const registered = await createApp(services.database.db, 'Short-lived daemon', ['ProfilePhoto.Read.All']);
      const result = await msalApp(registered.clientId, {
        clientSecret: registered.secret,
      }).acquireTokenByClientCredential({
        scopes: ['https://graph.microsoft.com/.default'],
      });
      expect((await graphGet(`/users/${jane.upn}/photo`, result!.accessToken)).status).toBe(200);
      await removeApp(services.database.db, registered.clientId);
      // On PostgreSQL the server's read cache learns of the removal from the commit's notice
      // (docs/SECURITY.md), which a request sent at once can overtake: asked until refused.
      await expect
        .poll(async () => (await graphGet(`/users/${jane.upn}/photo`, result!.accessToken)).status, {
          timeout: 5_000,
          interval: 20,
        })
        .toBe(401);
      const refused = await graphGet(`/users/${jane.upn}/photo`, result!.accessToken);
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('InvalidAuthenticationToken');
    });

    describe.skipIf(browserMissing)('signing in with Chromium', () => {
      /** Opens `url`, signs in on photosync's page and returns where the browser was sent back to. */
      async function signIn(url: string, redirectPrefix: string, upn: string): Promise<URL> {
        const context = await browser!.newContext();
        try {
          const page = await context.newPage();
          let reached: (url: string) => void;
          const back = new Promise<string>((resolve) => (reached = resolve));
          await page.route(`${redirectPrefix}**`, async (route) => {
            reached(route.request().url());
            await route.fulfill({ status: 200, contentType: 'text/plain', body: 'back at the app' });
          });
          await page.goto(url);
          await page.fill('#upn', upn);
          await page.fill('#password', PASSWORD);
          await page.click(SIGN_IN_BUTTON);
          return new URL(await back);
        } finally {
          await context.close();
        }
      }

      it('example: authorization code with PKCE in Chromium, then /me/photo/$value', async () => {
        const port = await freePort();
        const redirectUri = `http://localhost:${port}/redirect`;
        const registered = await createApp(services.database.db, 'Photo web app', ['User.Read'], {
          redirectUris: [redirectUri],
        });
        const child = spawn(process.execPath, [path.join(EXAMPLES, 'msal-auth-code-pkce/index.mjs')], {
          env: {
            ...server.env,
            AUTHORITY: authority,
            GRAPH_URL: `${server.baseUrl}/`,
            CLIENT_ID: registered.clientId,
            CLIENT_SECRET: registered.secret,
            PORT: String(port),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
        child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
        const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
        try {
          await waitForOutput(child, /Open http:\/\/localhost:\d+\/ to sign in/, () => output);
          const context = await browser!.newContext();
          const page = await context.newPage();
          await page.goto(`http://localhost:${port}/`);
          // photosync's own sign-in page, naming the app.
          expect(await page.textContent('main')).toContain('Photo web app');
          await page.fill('#upn', jane.upn);
          await page.fill('#password', PASSWORD);
          await page.click(SIGN_IN_BUTTON);
          await page.waitForURL(`${redirectUri}**`);
          expect(await page.textContent('body')).toMatch(
            new RegExp(`Signed in as ${jane.upn}; your photo is \\d+ bytes\\.`),
          );
          await context.close();
          expect(await exited).toBe(0);
        } finally {
          child.kill();
        }
      }, 60_000);

      it('acquireTokenByCode, then acquireTokenSilent from the cache and, once the token has expired, with the rotating refresh token', async () => {
        const redirectUri = 'http://localhost:1/msal-callback';
        const registered = await createApp(services.database.db, 'Silent app', ['User.Read'], {
          redirectUris: [redirectUri],
        });
        const msal = msalApp(registered.clientId, { clientSecret: registered.secret });
        const scopes = ['User.Read'];
        const { verifier, challenge } = await new CryptoProvider().generatePkceCodes();
        const url = await msal.getAuthCodeUrl({
          scopes,
          redirectUri,
          codeChallenge: challenge,
          codeChallengeMethod: 'S256',
          state: 'state-1',
          nonce: 'nonce-1',
        });
        expect(url.startsWith(`${authority}/oauth2/v2.0/authorize?`)).toBe(true);
        const back = await signIn(url, redirectUri, jane.upn);
        const code = back.searchParams.get('code')!;
        const result = await msal.acquireTokenByCode(
          { code, scopes, redirectUri, codeVerifier: verifier, state: 'state-1', nonce: 'nonce-1' },
          { code, state: back.searchParams.get('state')! },
        );
        expect(result.account).toMatchObject({
          username: jane.upn,
          homeAccountId: `${jane.id}.${tenant}`,
          tenantId: tenant,
          environment: server.host,
        });
        expect(result.idTokenClaims).toMatchObject({
          oid: jane.id,
          tid: tenant,
          nonce: 'nonce-1',
          aud: registered.clientId,
        });
        expect((await graphGet('/me/photo/$value', result.accessToken)).status).toBe(200);

        const cached = await msal.acquireTokenSilent({ account: result.account!, scopes });
        expect(cached.fromCache).toBe(true);
        const refreshTokenBefore = cachedRefreshToken(msal);

        vi.useFakeTimers({ toFake: ['Date'] });
        try {
          // Two hours on (for MSAL): the access token has expired, the account and refresh token remain.
          vi.setSystemTime(Date.now() + 2 * HOUR);
          const [account] = await msal.getTokenCache().getAllAccounts();
          const refreshed: AuthenticationResult = await msal.acquireTokenSilent({ account: account!, scopes });
          expect(refreshed.fromCache).toBe(false);
          expect(refreshed.accessToken).not.toBe(result.accessToken);
          expect((await graphGet('/me/photo/$value', refreshed.accessToken)).status).toBe(200);
          const refreshTokenAfter = cachedRefreshToken(msal);
          expect(refreshTokenAfter).not.toBe(refreshTokenBefore);

          // The spent refresh token, used again hours later: a confidential client may, as Entra
          // lets it (its secret is what counts), and the sign-in goes on.
          const again = await msal.acquireTokenByRefreshToken({ refreshToken: refreshTokenBefore, scopes });
          expect((await graphGet('/me/photo/$value', again!.accessToken)).status).toBe(200);
          vi.setSystemTime(Date.now() + 2 * HOUR);
          // Two tokens at once for two resources: MSAL sends the same refresh token twice, and both are answered.
          const both = await Promise.all([
            msal.acquireTokenSilent({ account: account!, scopes }),
            msal.acquireTokenSilent({ account: account!, scopes: ['https://contoso-my.sharepoint.com/.default'] }),
          ]);
          expect(both.map((r) => r.fromCache)).toEqual([false, false]);
          expect((await graphGet('/me/photo/$value', both[0].accessToken)).status).toBe(200);
        } finally {
          vi.useRealTimers();
        }
      }, 60_000);

      it('extraScopesToConsent: one sign-in asks for Graph and SharePoint, then each resource’s token comes silently', async () => {
        const redirectUri = 'http://localhost:1/msal-two-resources';
        const registered = await createApp(services.database.db, 'Two resources app', ['User.Read', 'AllSites.Read'], {
          redirectUris: [redirectUri],
        });
        const msal = msalApp(registered.clientId, { clientSecret: registered.secret });
        const sites = ['https://contoso-my.sharepoint.com/AllSites.Read'];
        const { verifier, challenge } = await new CryptoProvider().generatePkceCodes();
        const url = await msal.getAuthCodeUrl({
          scopes: ['User.Read'],
          extraScopesToConsent: sites,
          redirectUri,
          codeChallenge: challenge,
          codeChallengeMethod: 'S256',
        });
        expect(new URL(url).searchParams.get('scope')).toContain('AllSites.Read');
        const back = await signIn(url, redirectUri, jane.upn);
        expect(back.searchParams.get('error')).toBeNull();
        const result = await msal.acquireTokenByCode({
          code: back.searchParams.get('code')!,
          scopes: ['User.Read'],
          redirectUri,
          codeVerifier: verifier,
        });
        expect(decodeJwt(result.accessToken)).toMatchObject({ scp: 'User.Read' });
        const sharePoint = await msal.acquireTokenSilent({ account: result.account!, scopes: sites });
        expect(sharePoint.fromCache).toBe(false);
        expect(decodeJwt(sharePoint.accessToken)).toMatchObject({ scp: 'AllSites.Read' });
        // A scope the app was not registered with, beside one it was, is still refused at sign-in.
        const wider = await msal.getAuthCodeUrl({
          scopes: ['User.Read'],
          extraScopesToConsent: ['https://contoso-my.sharepoint.com/AllSites.Write'],
          redirectUri,
        });
        const refused = await fetch(wider, { redirect: 'manual' });
        expect(`${refused.headers.get('location') ?? ''} ${await refused.text()}`).toMatch(/AADSTS65001/);
      }, 60_000);

      /** A new user signed in through an app registered with User.Read only: MSAL and its result. */
      const signedInWithUserRead = async (appName: string, redirectUri: string) => {
        const user = await makeUser(services);
        const registered = await createApp(services.database.db, appName, ['User.Read'], {
          redirectUris: [redirectUri],
        });
        const msal = msalApp(registered.clientId, { clientSecret: registered.secret });
        const scopes = ['User.Read'];
        const { verifier, challenge } = await new CryptoProvider().generatePkceCodes();
        const url = await msal.getAuthCodeUrl({
          scopes,
          redirectUri,
          codeChallenge: challenge,
          codeChallengeMethod: 'S256',
        });
        const back = await signIn(url, redirectUri, user.upn);
        const result = await msal.acquireTokenByCode({
          code: back.searchParams.get('code')!,
          scopes,
          redirectUri,
          codeVerifier: verifier,
        });
        return { user, msal, result, scopes };
      };

      it('photosync users revoke-sessions ends the refresh token MSAL holds', async () => {
        const {
          user: kalle,
          msal,
          result,
          scopes,
        } = await signedInWithUserRead('Revoked app', 'http://localhost:1/msal-revoked');
        const revoked = await run([BIN, 'users', 'revoke-sessions', kalle.upn], server.env);
        expect(revoked.code, revoked.stderr).toBe(0);
        expect(revoked.stdout).toMatch(/^Ended 1 refresh token/);
        const error = await msal.acquireTokenSilent({ account: result.account!, scopes, forceRefresh: true }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(InteractionRequiredAuthError);
        expect((error as InteractionRequiredAuthError).errorCode).toBe('invalid_grant');
      }, 60_000);

      it('a scope the app was not consented to is InteractionRequiredAuthError (AADSTS65001, consent_required)', async () => {
        const { msal, result } = await signedInWithUserRead('Narrow app', 'http://localhost:1/msal-consent');
        const error = await msal
          .acquireTokenSilent({ account: result.account!, scopes: ['ProfilePhoto.Read.All'] })
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(error).toBeInstanceOf(InteractionRequiredAuthError);
        expect((error as InteractionRequiredAuthError).subError).toBe('consent_required');
        expect((error as InteractionRequiredAuthError).errorMessage).toMatch(/AADSTS65001/);
      }, 60_000);
    });
  });
}

/** The refresh token MSAL keeps for the account (its cache, serialized as MSAL persists it). */
function cachedRefreshToken(msal: ConfidentialClientApplication): string {
  const cache = JSON.parse(msal.getTokenCache().serialize()) as { RefreshToken: Record<string, { secret: string }> };
  const tokens = Object.values(cache.RefreshToken);
  expect(tokens).toHaveLength(1);
  return tokens[0]!.secret;
}
