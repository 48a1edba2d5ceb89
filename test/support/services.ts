import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, inject } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { App } from '../../src/app.js';
import { createServices, type ServiceOptions, type Services } from '../../src/services.js';

export type TestDialect = 'sqlite' | 'postgres';

/** The dialects this run can test: SQLite always, PostgreSQL when the global setup found it. */
export function testDialects(): TestDialect[] {
  return inject('postgresUrl') ? ['sqlite', 'postgres'] : ['sqlite'];
}

/** describe() once per dialect, like Kysely's own test suite. */
export function describeEachDialect(name: string, body: (dialect: TestDialect) => void): void {
  for (const dialect of testDialects()) describe(`${name} [${dialect}]`, () => body(dialect));
}

/** A place both dialects can share: a temporary folder and, for PostgreSQL, a fresh schema. */
export interface TestStore {
  dialect: TestDialect;
  dataDir: string;
  databaseUrl: string | undefined;
  schema: string | undefined;
  /** Settings for a child process (the CLI, a second server) on the same store. */
  env: Record<string, string>;
  drop(): Promise<void>;
}

/**
 * A fresh store: a temporary folder and, for PostgreSQL, a schema of its own, already migrated
 * (`empty`: without photosync's tables, for the tests of the migrations themselves).
 */
export async function createTestStore(dialect: TestDialect, options: { empty?: boolean } = {}): Promise<TestStore> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-test-'));
  const url = dialect === 'postgres' ? inject('postgresUrl') : null;
  if (dialect === 'postgres' && !url) throw new Error('PostgreSQL is not available to this test run.');
  const schema = url ? `t_${randomBytes(6).toString('hex')}` : undefined;
  if (url && schema) {
    // A copy of the run's migrated template (test/global-setup.ts), or an empty schema that
    // photosync migrates when it opens it.
    const template = options.empty ? null : inject('postgresTemplate');
    await adminQuery(url, template ? template.sql.replaceAll(template.schema, schema) : `create schema ${schema}`);
  }
  const env: Record<string, string> = { PHOTOSYNC_DATA_DIR: dataDir, PHOTOSYNC_DEMO: 'false' };
  if (url && schema) {
    // libpq's `options` puts every connection of a child process into the schema as well.
    const withSchema = new URL(url);
    withSchema.searchParams.set('options', `-c search_path=${schema}`);
    env.DATABASE_URL = withSchema.toString();
  }
  return {
    dialect,
    dataDir,
    databaseUrl: url ?? undefined,
    schema,
    env,
    async drop() {
      if (url && schema) await adminQuery(url, `drop schema ${schema} cascade`);
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** One statement on its own connection, e.g. creating or dropping a schema or a database; the rows it answers. */
export async function adminQuery(url: string, text: string): Promise<Array<Record<string, unknown>>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Record<string, unknown>>(text)).rows;
  } finally {
    await client.end();
  }
}

/** Real services (real database, real photo store) on a test store; settings from env overrides. */
export async function openTestServices(
  store: TestStore,
  env: Record<string, string> = {},
  options: Omit<ServiceOptions, 'schema'> = {},
): Promise<Services> {
  const config = loadConfig({ PHOTOSYNC_DATA_DIR: store.dataDir, PHOTOSYNC_DEMO: 'false', NODE_ENV: 'test', ...env });
  return createServices(
    { ...config, databaseUrl: store.databaseUrl },
    { log: pino({ level: 'silent' }), ...options, ...(store.schema ? { schema: store.schema } : {}) },
  );
}

export interface TestContext {
  store: TestStore;
  services: Services;
}

/**
 * Opens real services on a fresh store before the suite and removes both after it. The returned
 * object is filled in by beforeAll, so read its fields inside tests.
 */
export function useTestServices(dialect: TestDialect, env: Record<string, string> = {}): TestContext {
  const context = {} as TestContext;
  beforeAll(async () => {
    context.store = await createTestStore(dialect);
    context.services = await openTestServices(context.store, env);
  });
  afterAll(async () => {
    await context.services?.close();
    await context.store?.drop();
  });
  return context;
}

/** useTestServices plus the HTTP app built on them (closed before the services). */
export function useTestApp(dialect: TestDialect, env: Record<string, string> = {}): TestContext & { app: App } {
  const context = useTestServices(dialect, env) as TestContext & { app: App };
  beforeAll(async () => {
    // Loaded here, not at the top: files that use only the services (a third of them) skip
    // importing the whole HTTP app, about a second of each file's start.
    const { buildApp } = await import('../../src/app.js');
    context.app = await buildApp(context.services);
  });
  afterAll(async () => {
    await context.app?.close();
  });
  return context;
}

/** `useTestApp`, listening on a free port of 127.0.0.1 (raw sockets, fetch); `port` is set once it listens. */
export function useListeningTestApp(
  dialect: TestDialect,
  env: Record<string, string> = {},
): TestContext & { app: App; port: number } {
  const context = useTestApp(dialect, env) as TestContext & { app: App; port: number };
  beforeAll(async () => {
    await context.app.listen({ port: 0, host: '127.0.0.1' });
    context.port = (context.app.server.address() as AddressInfo).port;
  });
  return context;
}
