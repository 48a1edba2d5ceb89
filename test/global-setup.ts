import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createDevCertificates } from '../src/cli/commands/dev-cert.js';
import type { TestProject } from 'vitest/node';
import { ensureFreshBuild } from '../scripts/build.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** PostgreSQL for the dialect tests, or null when it is not reachable (laptops). */
    postgresUrl: string | null;
    /** A local CA (`photosync dev-cert`'s) that every test process trusts: servers under test get certificates from it. */
    testCaDir: string;
  }
}

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Builds dist/ when src/ changed since the last build: the tests that spawn `photosync` (the
 * command, the server, the crash points) run the compiled code, as people do, and must run the
 * code under test. Once per run, before any test starts, so no two processes build at once.
 * Then finds PostgreSQL once for the whole run. With PHOTOSYNC_REQUIRE_POSTGRES=1 (CI) an unreachable
 * database fails the run; otherwise the PostgreSQL half of the tests is skipped with a reason.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  ensureFreshBuild({ log: (message) => console.log(message) });
  const teardown = trustTestCa(project);
  const url = process.env.PHOTOSYNC_TEST_DATABASE_URL || DEFAULT_URL;
  const required = process.env.PHOTOSYNC_REQUIRE_POSTGRES === '1';
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    project.provide('postgresUrl', url);
  } catch (error) {
    const reason = `PostgreSQL at ${url} is not reachable (${(error as Error).message})`;
    if (required) throw new Error(`${reason}; PHOTOSYNC_REQUIRE_POSTGRES=1 requires it.`, { cause: error });
    console.warn(`\n${reason}: skipping the PostgreSQL tests. Set PHOTOSYNC_TEST_DATABASE_URL to run them.\n`);
    project.provide('postgresUrl', null);
  } finally {
    await client.end().catch(() => {});
  }
  return teardown;
}

/**
 * Makes the run's certificate authority, as `photosync dev-cert` does, and trusts it the way its
 * output says: NODE_EXTRA_CA_CERTS, which the test processes (forked after this) read at start.
 * Tests that serve https get their certificates from it, so MSAL, the Graph SDK and fetch verify
 * them like any other certificate; nothing turns verification off.
 */
function trustTestCa(project: TestProject): () => void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-test-ca-'));
  const { caCert } = createDevCertificates(dir);
  const bundle = path.join(dir, 'trusted.pem');
  const existing = process.env.NODE_EXTRA_CA_CERTS;
  fs.writeFileSync(
    bundle,
    (existing && fs.existsSync(existing) ? fs.readFileSync(existing, 'utf8') : '') + fs.readFileSync(caCert, 'utf8'),
  );
  process.env.NODE_EXTRA_CA_CERTS = bundle;
  project.provide('testCaDir', dir);
  return () => fs.rmSync(dir, { recursive: true, force: true });
}
