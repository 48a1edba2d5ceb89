import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { createTestStore, describeEachDialect } from './support/services.js';
import { cleanEnv } from './support/tls-server.js';

// What `photosync serve` loads before it listens, on the embedded defaults (SQLite, no SMTP, no
// tenant): the PostgreSQL driver, MSAL, undici (connect mode's HTTP client) and nodemailer are left
// for the set-ups that use them, so the common start is spared loading them. A module-resolution hook in the server's own process
// names every package it loads; the compiled dist/ runs, as people run it.

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..');
const LEFT_FOR_LATER = ['pg', '@azure/msal-node', 'undici', 'nodemailer'];

/** Prints `loaded <package>` for each package the process resolves, once. */
const HOOK = `
const seen = new Set();
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  const name = resolved.url.match(/\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//)?.[1];
  if (name && !seen.has(name)) {
    seen.add(name);
    console.log('loaded ' + name);
  }
  return resolved;
}
`;

/** Starts the server as bin/photosync.js does, and ends the process once it listens. */
const SERVE_THEN_EXIT = `
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
register(pathToFileURL(process.env.HOOK_FILE).href);
const { run, processIo } = await import(pathToFileURL(process.env.MAIN_FILE).href);
const code = await run(['serve'], processIo());
process.exit(code);
`;

async function packagesLoadedByServe(env: Record<string, string>): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-start-up-'));
  try {
    const hookFile = path.join(dir, 'hook.mjs');
    fs.writeFileSync(hookFile, HOOK);
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', SERVE_THEN_EXIT], {
      cwd: dir,
      env: {
        // Not this test run's own photosync settings (PHOTOSYNC_TEST_PORTS is no server setting).
        ...cleanEnv(),
        HOOK_FILE: hookFile,
        MAIN_FILE: path.join(ROOT, 'dist/cli/main.js'),
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        DATABASE_URL: '',
        SMTP_URL: '',
        ...env,
      },
      timeout: 60_000,
    });
    expect(stdout).toContain('photosync is running at');
    return [...stdout.matchAll(/^loaded (\S+)$/gm)].map((m) => m[1]!);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describeEachDialect('what the server loads at start', (dialect) => {
  it('without SMTP or a tenant: MSAL, undici and nodemailer never, the PostgreSQL driver only for PostgreSQL', async () => {
    const store = await createTestStore(dialect);
    try {
      const loaded = await packagesLoadedByServe(store.env);
      // The hook sees the packages the server does use, so an empty list cannot pass for a good one.
      expect(loaded).toEqual(expect.arrayContaining(['fastify', 'better-sqlite3', 'sharp']));
      const expected = dialect === 'postgres' ? ['pg'] : [];
      expect(loaded.filter((name) => LEFT_FOR_LATER.includes(name))).toEqual(expected);
    } finally {
      await store.drop();
    }
  });
});
