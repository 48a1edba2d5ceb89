import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCertificate, type TestPem } from '../src/m365/test-certificate.js';

// The connect-mode commands, spawned as an administrator runs them, for what they do before a
// tenant answers: settings refused by name, usage mistakes, and a tenant that cannot be reached
// (every check ✗ with its fix, no key material anywhere). Against a tenant: the end-to-end tests
// with photosync playing the tenant.

const BIN = fileURLToPath(new URL('../bin/photosync.js', import.meta.url));

function run(args: string[], env: Record<string, string>, cwd: string) {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('PHOTOSYNC_') && name !== 'DATABASE_URL'),
  );
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...clean, ...env },
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A local port nobody listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('photosync m365', () => {
  let dir: string;
  let pem: TestPem;
  let env: Record<string, string>;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-m365-cli-'));
    pem = makeTestCertificate();
    await fs.writeFile(path.join(dir, 'app.pem'), pem.combined, { mode: 0o600 });
    const nowhere = `https://localhost:${await closedPort()}`;
    env = {
      PHOTOSYNC_DATA_DIR: path.join(dir, 'data'),
      PHOTOSYNC_DEMO: 'false',
      PHOTOSYNC_M365_TENANT: 'contoso.onmicrosoft.com',
      PHOTOSYNC_M365_CLIENT_ID: '6731de76-14a6-49ae-97bc-6eba6914391e',
      PHOTOSYNC_M365_CERTIFICATE: 'app.pem',
      PHOTOSYNC_M365_SHAREPOINT_URL: nowhere,
      PHOTOSYNC_M365_MYSITE_URL: nowhere,
      PHOTOSYNC_M365_ADMIN_URL: nowhere,
      PHOTOSYNC_M365_AUTHORITY_HOST: nowhere,
      PHOTOSYNC_M365_GRAPH_URL: nowhere,
    };
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('says how to set connect mode up when it is not', { timeout: 60_000 }, async () => {
    const result = await run(
      ['m365', 'check'],
      { PHOTOSYNC_DATA_DIR: path.join(dir, 'plain'), PHOTOSYNC_DEMO: 'false' },
      dir,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Connect mode is not set up: set PHOTOSYNC_M365_TENANT, PHOTOSYNC_M365_CLIENT_ID/);
    expect(result.stderr).not.toContain('    at ');

    const partial = await run(
      ['m365', 'scan'],
      { PHOTOSYNC_DATA_DIR: path.join(dir, 'plain'), PHOTOSYNC_M365_TENANT: 'contoso.onmicrosoft.com' },
      dir,
    );
    expect(partial.code).toBe(1);
    expect(partial.stderr).toMatch(
      /PHOTOSYNC_M365_CLIENT_ID, PHOTOSYNC_M365_CERTIFICATE, PHOTOSYNC_M365_SHAREPOINT_URL must be set too/,
    );
  });

  it('takes one user or --all-out-of-step, not both and not neither', { timeout: 60_000 }, async () => {
    for (const args of [
      ['m365', 'sync'],
      ['m365', 'sync', 'jane@contoso.com', '--all-out-of-step'],
    ]) {
      const result = await run(args, env, dir);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/Name one user \(photosync m365 sync <upn>\) or use --all-out-of-step/);
    }
  });

  it(
    'checks every part against a tenant that does not answer, with the fix and without key material',
    { timeout: 90_000 },
    async () => {
      const result = await run(['m365', 'check'], env, dir);
      expect(result.code).toBe(1);
      const lines = result.stdout.trim().split('\n');
      expect(lines.map((line) => line.split(':')[0])).toEqual([
        '✓ outbound proxy',
        '✗ clock matches Entra ID',
        `✗ token for Microsoft Graph (https`,
        `✗ token for SharePoint (https`,
        `✗ token for the SharePoint admin site (https`,
        '– SharePoint answers (https',
        '– can list users',
        '– can read a photo',
        '– can read a profile',
        '– can write to User Photos',
      ]);
      // Nothing answers there: the tenant is out of reach, which says nothing of the settings.
      expect(lines[0]).toBe(
        '✓ outbound proxy: none: HTTPS_PROXY and HTTP_PROXY are not set, so photosync connects directly',
      );
      expect(lines[2]).toMatch(/: nothing answers\. Check PHOTOSYNC_M365_AUTHORITY_HOST \(https:\/\/[^)]+\) and that/);
      expect(lines[2]).not.toContain('could not be read');
      const everything = result.stdout + result.stderr;
      for (const secret of [pem.privateKey.split('\n')[1]!, pem.privateKey.split('\n')[2]!, 'PRIVATE KEY']) {
        expect(everything).not.toContain(secret);
      }
    },
  );
});
