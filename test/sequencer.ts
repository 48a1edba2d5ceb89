import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// The order test files start in: longest first, so the two workers finish together instead of one
// running a two-minute file alone at the end. Vitest orders by the durations it cached in an earlier
// run; a fresh clone (CI) has none, and Vitest then starts the largest files first, which put the
// accessibility files (a few lines each, the longest of all) last. So each file's seconds from a
// whole run on the two-core machine are written here, and Vitest's own cached duration, where this
// checkout has one, takes their place. A file missing from both counts as short.

/** Seconds a file took in a whole run (npm test, 2 workers, 2 cores); files under 5 s are left out. */
const MEASURED: Record<string, number> = {
  'test/m365-e2e.test.ts': 130,
  'test/browser/accessibility-et.test.ts': 124,
  'test/browser/accessibility-en.test.ts': 120,
  'test/browser/layout.test.ts': 85,
  'test/security/image-load.test.ts': 72,
  'test/browser/portal.test.ts': 50,
  'test/security/bad-input.test.ts': 46,
  'test/m365-console-browser.test.ts': 45,
  'test/backup.test.ts': 44,
  'test/msal.test.ts': 44,
  'test/browser/user-pages.test.ts': 42,
  'test/security/body-memory.test.ts': 42,
  'test/admin-console-browser.test.ts': 37,
  'test/browser/forms.test.ts': 36,
  'test/crash-safety.test.ts': 36,
  'test/admin-mail.test.ts': 59,
  'test/m365-file-names.test.ts': 35,
  'test/multi-process.test.ts': 31,
  'test/serve.test.ts': 30,
  'test/concurrency.test.ts': 26,
  'test/storage-health.test.ts': 26,
  'test/security/auth-matrix.test.ts': 25,
  'test/security/hostile-images.test.ts': 25,
  'test/pnp-batch.test.ts': 24,
  'test/storage.test.ts': 24,
  'test/security/image-queue-http.test.ts': 22,
  'test/sign-in-throttle.test.ts': 22,
  'test/cli.test.ts': 21,
  'test/m365-portal-browser.test.ts': 20,
  'test/pnp.test.ts': 20,
  'test/security/fuzz-uploads.test.ts': 20,
  'test/picture-answers.test.ts': 19,
  'test/admin-browser.test.ts': 18,
  'src/media/master-photo-limits.test.ts': 17,
  'test/m365-console.test.ts': 17,
  'test/entra-oidc.test.ts': 15,
  'test/security/early-refusal.test.ts': 15,
  'test/cli-audit.test.ts': 13,
  'test/m365-states.test.ts': 13,
  'test/revocation.test.ts': 13,
  'test/security/image-shapes.test.ts': 13,
  'test/blob-sweep.test.ts': 12,
  'test/graph.test.ts': 12,
  'test/http-sites.test.ts': 12,
  'test/pnp-graph.test.ts': 12,
  'test/start-up-modules.test.ts': 12,
  'test/values-past-the-database.test.ts': 11,
  'test/apps.test.ts': 9,
  'test/directory-and-mail.test.ts': 9,
  'test/sync-engine.test.ts': 9,
  'test/entra-sign-in.test.ts': 8,
  'test/graph-authz.test.ts': 8,
  'test/graph-clients.test.ts': 8,
  'test/m365-portal.test.ts': 8,
  'test/msal-browser.test.ts': 8,
  'test/pnp-calls.test.ts': 8,
  'test/entra-client-assertion.test.ts': 7,
  'test/m365-cli.test.ts': 7,
  'test/name-search-case.test.ts': 7,
  'test/portal-pages.test.ts': 7,
  'test/portal.test.ts': 7,
  'test/sharepoint-rest-clients.test.ts': 7,
  'test/user-pages.test.ts': 7,
  'test/admin-api.test.ts': 6,
  'test/flash-messages.test.ts': 6,
  'test/read-cache.test.ts': 6,
  'test/user-lock.test.ts': 6,
  'test/user-remove-crash.test.ts': 6,
  'test/sharepoint-rest.test.ts': 5,
  'test/sync-history.test.ts': 5,
  'test/user-remove-lock.test.ts': 5,
};

/** What a file not measured yet is taken to need. */
const UNKNOWN_SECONDS = 3;

export default class LongestFirst extends BaseSequencer {
  override sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const seconds = (spec: TestSpecification) => {
      const file = path.relative(root, spec.moduleId).split(path.sep).join('/');
      const cached = this.ctx.cache.getFileTestResults(`${spec.project.name}:${file}`)?.duration;
      return cached !== undefined ? cached / 1000 : (MEASURED[file] ?? UNKNOWN_SECONDS);
    };
    return Promise.resolve([...files].sort((a, b) => seconds(b) - seconds(a)));
  }
}
