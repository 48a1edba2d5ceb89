import { availableParallelism } from 'node:os';
import { configDefaults, defineConfig } from 'vitest/config';
import LongestFirst from './test/sequencer.js';

/**
 * Test files that run in a shared worker process, one after another, with the modules it has
 * loaded (about 2 s less per file than a fresh process each, most of it importing the app): each
 * makes its own store and services and closes them, starts no server process and no browser,
 * mocks no module and measures no process. A new file runs in a process of its own until it is
 * added here, after passing with these (npx vitest run <these files> <the new one>).
 */
const SHARED_PROCESS = [
  'test/admin-api.test.ts',
  'test/admin-mail.test.ts',
  'test/admin-settings-form.test.ts',
  'test/admin-status.test.ts',
  'test/app-removal.test.ts',
  'test/apps.test.ts',
  'test/auth-hook.test.ts',
  'test/check-recorded-later.test.ts',
  'test/cli-audit.test.ts',
  'test/cli-registry.test.ts',
  'test/directory-and-mail.test.ts',
  'test/entra-client-assertion.test.ts',
  'test/entra-oidc.test.ts',
  'test/entra-sign-in.test.ts',
  'test/error-pages.test.ts',
  'test/flash-messages.test.ts',
  'test/form-token-binding.test.ts',
  'test/graph-authz.test.ts',
  'test/headers-too-large-page.test.ts',
  'test/graph-clients.test.ts',
  'test/graph-sdk.test.ts',
  'test/graph.test.ts',
  'test/http-sites.test.ts',
  'test/large-organisation.test.ts',
  'test/m365-push-decisions.test.ts',
  'test/m365-push-names.test.ts',
  'test/m365-store.test.ts',
  'test/mail-photo-replaced.test.ts',
  'test/name-search-case.test.ts',
  'test/picture-url-versions.test.ts',
  'test/portal-pages.test.ts',
  'test/portal.test.ts',
  'test/prepared-query.test.ts',
  'test/request-log.test.ts',
  'test/revocation.test.ts',
  'test/security/auth-matrix.test.ts',
  'test/security/bad-input.test.ts',
  'test/security/early-refusal.test.ts',
  'test/security/every-answer.test.ts',
  'test/security/image-shapes.test.ts',
  'test/sharepoint-rest-clients.test.ts',
  'test/sharepoint-rest.test.ts',
  'test/sign-in-disabled.test.ts',
  'test/sign-in-form.test.ts',
  'test/sign-in-throttle.test.ts',
  'test/status-disabled.test.ts',
  'test/storage-health.test.ts',
  'test/storage.test.ts',
  'test/sync-engine.test.ts',
  'test/sync-history.test.ts',
  'test/sync-round-trips.test.ts',
  'test/sync-state-order.test.ts',
  'test/sync-state.test.ts',
  'test/trust-proxy.test.ts',
  'test/upload-empty-file.test.ts',
  'test/user-lock.test.ts',
  'test/user-pages.test.ts',
  'test/user-remove-lock.test.ts',
  'test/validation-messages.test.ts',
  'test/values-past-the-database.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // At least two test files at once, even on two cores (Vitest's default there is one): most tests
    // wait on other processes (the servers and command-line runs they start, Chromium, PostgreSQL),
    // so a second file fills that time. Every file has its own database, data folder and ports.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // Longest files first (test/sequencer.ts), also on a fresh clone without Vitest's cache.
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        // The unit tests beside the sources: no database, server process or global setup of their
        // own, no mocks and no module state they leave for another file. They share a worker
        // process and its loaded modules (about 0.5 s less per file than a fresh process each).
        extends: true,
        test: { name: 'src', include: ['src/**/*.test.{ts,tsx}'], isolate: false },
      },
      {
        // Vitest runs a global setup once per project; test/global-setup.ts shares one between them.
        extends: true,
        test: { name: 'test-shared', include: SHARED_PROCESS, isolate: false, globalSetup: ['test/global-setup.ts'] },
      },
      {
        // The others, each in a process of its own: some mock modules (vi.mock), start servers,
        // Chromium or processes, or measure memory.
        extends: true,
        test: {
          name: 'test',
          include: ['test/**/*.test.{ts,tsx}'],
          exclude: [...configDefaults.exclude, ...SHARED_PROCESS],
          globalSetup: ['test/global-setup.ts'],
        },
      },
    ],
  },
});
