import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, expect, it } from 'vitest';
import type { Services } from '../src/services.js';
import { getRendition, getSiteProfile } from '../src/sites/profiles.js';
import { listAttempts } from '../src/sync/history.js';
import { makeUser } from './support/factories.js';
import { describeEachDialect, useTestServices } from './support/services.js';

const run = promisify(execFile);
const WORKER = path.resolve('test/support/contention-worker.ts');

describeEachDialect('several processes on one database', (dialect) => {
  const context = useTestServices(dialect);
  let services: Services;
  beforeAll(() => ({ services } = context));

  it('set photos and sync the same users at once without failures, and end in step', async () => {
    const users = await Promise.all(Array.from({ length: 6 }, () => makeUser(services)));
    const upns = users.map((u) => u.upn);
    const env = { PATH: process.env.PATH, ...context.store.env };
    const workers = await Promise.all(
      [0, 1, 2].map(() => run(process.execPath, ['--import', 'tsx', WORKER, '6', ...upns], { env })),
    );
    const reports = workers.map((w) => JSON.parse(w.stdout) as { outcomes: Record<string, number>; errors: string[] });
    expect(reports.flatMap((r) => r.errors)).toEqual([]);
    expect(reports.reduce((n, r) => n + (r.outcomes.failed ?? 0), 0)).toBe(0);

    for (const user of users) {
      expect(await listAttempts(services.database.db, user.id)).toHaveLength(18);
      const final = await services.sync.sync(user, 'admin');
      expect(['synced', 'unchanged']).toContain(final.outcome);
      const profile = await getSiteProfile(services.database.db, user.id);
      const mailEtag = (
        await services.database.db
          .selectFrom('mail_photos')
          .select('etag')
          .where('user_id', '=', user.id)
          .executeTakeFirst()
      )?.etag;
      expect(profile?.syncedEtag).toBe(mailEtag);
      for (const size of ['S', 'M', 'L'] as const) {
        const rendition = await getRendition(services.database.db, user.id, size);
        expect(await services.blobs.get(rendition!.blobKey)).toBeDefined();
      }
    }
  });
});
