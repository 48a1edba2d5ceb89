import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createDevCertificates } from '../src/cli/commands/dev-cert.js';
import type { TestProject } from 'vitest/node';
import { promisify } from 'node:util';
import { ensureFreshBuild } from '../scripts/build.js';
import { openDatabase } from '../src/storage/database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** PostgreSQL for the dialect tests, or null when it is not reachable (laptops). */
    postgresUrl: string | null;
    /**
     * The PostgreSQL stores' starting point: photosync's migrations run once for the whole run into
     * `schema`, and `sql` (its pg_dump) makes a copy of it. Null without PostgreSQL or pg_dump:
     * each store then runs the migrations itself.
     */
    postgresTemplate: { schema: string; sql: string } | null;
    /** A local CA (`photosync dev-cert`'s) that every test process trusts: servers under test get certificates from it. */
    testCaDir: string;
  }
}

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test';

interface Provided {
  postgresUrl: string | null;
  postgresTemplate: { schema: string; sql: string } | null;
  testCaDir: string;
}

/**
 * The run's one setup, shared by the projects of vitest.config.ts (Vitest calls a global setup
 * once per project): one build check, one CA, one template schema, removed after the last project.
 */
const SHARED = Symbol.for('photosync.test.global-setup');
type Shared = { projects: number; ready: Promise<{ provided: Provided; teardown: () => void }> };

export default async function setup(project: TestProject): Promise<() => void> {
  const registry = globalThis as unknown as Record<symbol, Shared | undefined>;
  const shared = (registry[SHARED] ??= { projects: 0, ready: prepare() });
  shared.projects++;
  const { provided, teardown } = await shared.ready;
  project.provide('postgresUrl', provided.postgresUrl);
  project.provide('postgresTemplate', provided.postgresTemplate);
  project.provide('testCaDir', provided.testCaDir);
  return () => {
    if (--shared.projects > 0) return;
    registry[SHARED] = undefined;
    teardown();
  };
}

/**
 * Builds dist/ when src/ changed since the last build: the tests that spawn `photosync` (the
 * command, the server, the crash points) run the compiled code, as people do, and must run the
 * code under test. Once per run, before any test starts, so no two processes build at once.
 * Then finds PostgreSQL once for the whole run. With PHOTOSYNC_REQUIRE_POSTGRES=1 (CI) an unreachable
 * database fails the run; otherwise the PostgreSQL half of the tests is skipped with a reason.
 */
async function prepare(): Promise<{ provided: Provided; teardown: () => void }> {
  ensureFreshBuild({ log: (message) => console.log(message) });
  const { dir: testCaDir, teardown } = trustTestCa();
  const url = process.env.PHOTOSYNC_TEST_DATABASE_URL || DEFAULT_URL;
  const required = process.env.PHOTOSYNC_REQUIRE_POSTGRES === '1';
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  let reachable = false;
  try {
    await client.connect();
    await client.query('select 1');
    reachable = true;
  } catch (error) {
    const reason = `PostgreSQL at ${url} is not reachable (${(error as Error).message})`;
    if (required) throw new Error(`${reason}; PHOTOSYNC_REQUIRE_POSTGRES=1 requires it.`, { cause: error });
    console.warn(`\n${reason}: skipping the PostgreSQL tests. Set PHOTOSYNC_TEST_DATABASE_URL to run them.\n`);
  } finally {
    await client.end().catch(() => {});
  }
  const postgresTemplate = reachable ? await migratedTemplate(url) : null;
  return { provided: { postgresUrl: reachable ? url : null, postgresTemplate, testCaDir }, teardown };
}

/**
 * A schema with every migration run, as pg_dump writes it: one statement per PostgreSQL test
 * store instead of the migrations' 160-odd round trips (about a second a store on this machine).
 * The copy is the same as migrating: no migration writes anything random or dated. The tests of
 * the migrations themselves ask for an empty schema (createTestStore's `empty`).
 */
async function migratedTemplate(url: string): Promise<{ schema: string; sql: string } | null> {
  const schema = `t_template_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`create schema ${schema}`);
    const database = await openDatabase({ databaseUrl: url, dataDir: os.tmpdir(), schema, poolSize: 1 });
    await database.close();
    const { stdout } = await promisify(execFile)(
      'pg_dump',
      ['--no-owner', '--no-privileges', '--inserts', '--schema', schema, '--dbname', url],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    // psql's meta-commands (\restrict, \unrestrict) are not SQL.
    return { schema, sql: stdout.replace(/^\\.*$/gm, '') };
  } catch (error) {
    console.warn(
      `\nNo template schema (${(error as Error).message.split('\n')[0]}): each PostgreSQL test store migrates itself.\n`,
    );
    return null;
  } finally {
    await client.query(`drop schema if exists ${schema} cascade`).catch(() => {});
    await client.end().catch(() => {});
  }
}

/**
 * Makes the run's certificate authority, as `photosync dev-cert` does, and trusts it the way its
 * output says: NODE_EXTRA_CA_CERTS, which the test processes (forked after this) read at start.
 * Tests that serve https get their certificates from it, so MSAL, the Graph SDK and fetch verify
 * them like any other certificate; nothing turns verification off.
 */
function trustTestCa(): { dir: string; teardown: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-test-ca-'));
  const { caCert } = createDevCertificates(dir);
  const bundle = path.join(dir, 'trusted.pem');
  const existing = process.env.NODE_EXTRA_CA_CERTS;
  fs.writeFileSync(
    bundle,
    (existing && fs.existsSync(existing) ? fs.readFileSync(existing, 'utf8') : '') + fs.readFileSync(caCert, 'utf8'),
  );
  process.env.NODE_EXTRA_CA_CERTS = bundle;
  return { dir, teardown: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
