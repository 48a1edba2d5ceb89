import fs from 'node:fs';
import type { ServerResponse } from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { createDevCertificates } from '../src/cli/commands/dev-cert.js';
import { loadConfig } from '../src/config.js';
import { runChecks } from '../src/m365/check.js';
import { createM365Connection } from '../src/m365/connection.js';
import { pushTenantUser } from '../src/m365/push.js';
import type { M365Settings } from '../src/m365/settings.js';
import { makeTestCertificate } from '../src/m365/test-certificate.js';
import { createTokenSource } from '../src/m365/tokens.js';
import { ensureTenantUser, findTenantUser } from '../src/m365/users.js';
import { freePort } from './support/tls-server.js';
import { useTestServices } from './support/services.js';

// Connect mode when the sign-in host (PHOTOSYNC_M365_AUTHORITY_HOST) does not give MSAL the
// tenant's OpenID metadata: nothing answering there is a tenant out of reach, told as such, and
// only a host that answers with something else is said to be the wrong one.

const silent = pino({ level: 'silent' });

function settingsAt(authorityHost: string): M365Settings {
  return loadConfig(
    {
      PHOTOSYNC_M365_TENANT: 'contoso.onmicrosoft.com',
      PHOTOSYNC_M365_CLIENT_ID: '6731de76-14a6-49ae-97bc-6eba6914391e',
      PHOTOSYNC_M365_CERTIFICATE: makeTestCertificate().combined,
      PHOTOSYNC_M365_SHAREPOINT_URL: authorityHost,
      PHOTOSYNC_M365_MYSITE_URL: authorityHost,
      PHOTOSYNC_M365_ADMIN_URL: authorityHost,
      PHOTOSYNC_M365_GRAPH_URL: authorityHost,
      PHOTOSYNC_M365_AUTHORITY_HOST: authorityHost,
    },
    '/',
  ).m365!;
}

/** An https server (its certificate from the test run's trusted CA) that answers every request with `answer`. */
async function startHttpsServer(answer: (response: ServerResponse) => void) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-authority-'));
  const ca = inject('testCaDir');
  for (const file of ['ca.pem', 'ca-key.pem']) fs.copyFileSync(path.join(ca, file), path.join(dir, file));
  const { cert, key } = createDevCertificates(dir);
  const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (_request, response) =>
    answer(response),
  );
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `https://localhost:${port}`,
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('a token when nothing answers at the sign-in host', () => {
  it('says nothing answers there, not that the settings are wrong', { timeout: 60_000 }, async () => {
    const settings = settingsAt(`https://127.0.0.1:${await freePort()}`);
    const error = await createTokenSource(settings, silent)
      .token('graph')
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ problem: 'unreachable' });
    expect((error as Error).message).toMatch(/nothing answers\. Check PHOTOSYNC_M365_AUTHORITY_HOST/);
    expect((error as Error).message).not.toContain('could not be read');
  });
});

describe('a sign-in host that answers without the metadata', () => {
  let server: Awaited<ReturnType<typeof startHttpsServer>>;
  /** What the host answers: a web server's 404 page, Entra's answer for a tenant it does not know or another refusal, or a failure. */
  let answer: 'not_found_page' | 'unknown_tenant' | 'other_refusal' | 'server_error' = 'not_found_page';
  beforeAll(async () => {
    server = await startHttpsServer((response) => {
      if (answer === 'server_error') {
        response.writeHead(500, { 'content-type': 'text/plain' });
        response.end('Internal Server Error');
        return;
      }
      if (answer === 'not_found_page') {
        response.writeHead(404, { 'content-type': 'text/html' });
        response.end('<h1>Not Found</h1>');
        return;
      }
      response.writeHead(400, { 'content-type': 'application/json; charset=utf-8' });
      if (answer === 'other_refusal') {
        response.end(
          JSON.stringify({
            error: 'invalid_request',
            error_description: 'AADSTS90014: The required field is missing from the request.',
            error_codes: [90014],
          }),
        );
        return;
      }
      response.end(
        JSON.stringify({
          error: 'invalid_tenant',
          error_description:
            "AADSTS90002: Tenant 'contoso.onmicrosoft.com' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.",
          error_codes: [90002],
        }),
      );
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** `m365 check`'s first line, the clock, which reads the sign-in host's metadata. */
  async function clockCheck() {
    const results = await runChecks(createM365Connection(settingsAt(server.url), silent));
    return results.find((result) => result.name === 'clock matches Entra ID')!;
  }

  it(
    'is not Entra when its 404 says nothing of a tenant: the token and m365 check name the host',
    { timeout: 60_000 },
    async () => {
      answer = 'not_found_page';
      const error = await createTokenSource(settingsAt(server.url), silent)
        .token('graph')
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ problem: 'wrong_url' });
      expect((error as Error).message).toMatch(
        /answered 404 .*not a Microsoft sign-in host\. Check PHOTOSYNC_M365_AUTHORITY_HOST/,
      );
      expect((error as Error).message).not.toContain('PHOTOSYNC_M365_TENANT');

      const clock = await clockCheck();
      expect(clock).toMatchObject({ name: 'clock matches Entra ID', status: 'failed' });
      expect(clock.detail).toMatch(/answered 404 .*Check PHOTOSYNC_M365_AUTHORITY_HOST/);
      expect(clock.detail).not.toContain('knows no tenant');
    },
  );

  it(
    'is said as Entra worded it when Entra refuses for another reason, blaming no setting',
    { timeout: 60_000 },
    async () => {
      answer = 'other_refusal';
      const clock = await clockCheck();
      expect(clock.detail).toMatch(/refused the tenant's OpenID metadata \(400\): AADSTS90014/);
      expect(clock.detail).not.toMatch(/PHOTOSYNC_M365_(TENANT|AUTHORITY_HOST)/);
    },
  );

  it('says what it answered when that is neither a refusal nor the metadata', { timeout: 60_000 }, async () => {
    answer = 'server_error';
    const error = await createTokenSource(settingsAt(server.url), silent)
      .token('graph')
      .catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/openid-configuration could not be read \(the host answers 500\)\./);
  });

  it(
    'is Entra not knowing the tenant when it answers AADSTS90002: both name the tenant',
    { timeout: 60_000 },
    async () => {
      answer = 'unknown_tenant';
      const error = await createTokenSource(settingsAt(server.url), silent)
        .token('graph')
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ problem: 'tenant' });
      expect((error as Error).message).toMatch(
        /knows no tenant "contoso\.onmicrosoft\.com" \(400, AADSTS90002\)\. Check PHOTOSYNC_M365_TENANT/,
      );

      const clock = await clockCheck();
      expect(clock).toMatchObject({ status: 'failed' });
      expect(clock.detail).toMatch(/knows no tenant .*Check PHOTOSYNC_M365_TENANT/);
    },
  );
});

describe('a push when nothing answers at the sign-in host', () => {
  const context = useTestServices('sqlite');

  it('is recorded as the tenant not answering, and leaves the user as last found', { timeout: 60_000 }, async () => {
    const { db } = context.services.database;
    const upn = 'adele@contoso.com';
    await ensureTenantUser(db, { id: upn, upn, displayName: upn, accountEnabled: true, hasMailbox: true });
    await db.updateTable('m365_users').set({ state: 'changed', state_at: Date.now() }).execute();
    const connection = createM365Connection(settingsAt(`https://127.0.0.1:${await freePort()}`), silent);
    const report = await pushTenantUser(
      connection,
      { db, lock: context.services.tenantLock },
      (await findTenantUser(db, upn))!,
      { trigger: 'admin', sizes: context.services.syncSettings().renditionSizes },
    );
    expect(report).toMatchObject({ outcome: 'failed', problem: 'unreachable' });
    expect(report.error).toContain('nothing answers');
    expect(await findTenantUser(db, upn)).toMatchObject({ state: 'changed', failingSince: null });
    const attempts = await db.selectFrom('m365_push_attempts').select(['outcome', 'error']).execute();
    expect(attempts).toEqual([{ outcome: 'failed', error: report.error }]);
  });
});
