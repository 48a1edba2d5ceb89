import fs from 'node:fs';
import type { ServerResponse } from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { createDevCertificates } from '../src/cli/commands/dev-cert.js';
import { loadConfig } from '../src/config.js';
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

describe('a token when the sign-in host answers without the metadata', () => {
  let server: Awaited<ReturnType<typeof startHttpsServer>>;
  beforeAll(async () => {
    server = await startHttpsServer((response) => {
      response.writeHead(404, { 'content-type': 'text/html' });
      response.end('<h1>Not Found</h1>');
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('says the metadata could not be read there, with what the host answered', { timeout: 60_000 }, async () => {
    const error = await createTokenSource(settingsAt(server.url), silent)
      .token('graph')
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ problem: 'wrong_url' });
    expect((error as Error).message).toMatch(
      /openid-configuration could not be read \(the host answers 404\)\. Check PHOTOSYNC_M365_AUTHORITY_HOST/,
    );
  });
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
