import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { ensureFreshBuild } from '../scripts/build.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** PostgreSQL for the dialect tests, or null when it is not reachable (laptops). */
    postgresUrl: string | null;
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
export default async function setup(project: TestProject): Promise<void> {
  ensureFreshBuild({ log: (message) => console.log(message) });
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
}
