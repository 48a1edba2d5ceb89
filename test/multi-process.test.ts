import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, expect, it } from 'vitest';
import type { Services } from '../src/services.js';
import { getRendition, getSiteProfile } from '../src/sites/profiles.js';
import { attemptCount, listAttempts } from '../src/sync/history.js';
import { makeUser, tokenFor } from './support/factories.js';
import { describeEachDialect, useTestApp, useTestServices } from './support/services.js';

const run = promisify(execFile);
const WORKER = path.resolve('test/support/contention-worker.js');

describeEachDialect('several processes on one database', (dialect) => {
  const context = useTestServices(dialect);
  let services: Services;
  beforeAll(() => ({ services } = context));

  const workers = (rounds: number, upns: string[], count: number) => {
    const env = { PATH: process.env.PATH, ...context.store.env };
    return Promise.all(
      Array.from({ length: count }, () => run(process.execPath, [WORKER, String(rounds), ...upns], { env })),
    );
  };

  it('set photos and sync the same users at once without failures, and end in step', async () => {
    const users = await Promise.all(Array.from({ length: 6 }, () => makeUser(services)));
    const upns = users.map((u) => u.upn);
    const reports = (await workers(6, upns, 3)).map(
      (w) => JSON.parse(w.stdout) as { outcomes: Record<string, number>; errors: string[] },
    );
    expect(reports.flatMap((r) => r.errors)).toEqual([]);
    expect(reports.reduce((n, r) => n + (r.outcomes.failed ?? 0), 0)).toBe(0);

    for (const user of users) {
      expect(attemptCount(await listAttempts(services.database.db, user.id))).toBe(18);
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
  }, 180_000); // three processes, each rendering 36 pictures
});

describeEachDialect('serving while other processes sync', (dialect) => {
  const context = useTestApp(dialect);

  it('always answers with a whole picture, never an error', async () => {
    const { services } = context;
    const jane = await makeUser(services);
    const token = await tokenFor(services, await makeUser(services));
    const env = { PATH: process.env.PATH, ...context.store.env };
    let busy = true;
    const changing = Promise.all([0, 1].map(() => run(process.execPath, [WORKER, '12', jane.upn], { env }))).finally(
      () => (busy = false),
    );
    const statuses = new Map<number, number>();
    const looking = Array.from({ length: 3 }, async () => {
      while (busy) {
        // better-sqlite3 answers synchronously: yield so the workers' exit can be noticed.
        await new Promise((resolve) => setImmediate(resolve));
        for (const size of ['S', 'M', 'L']) {
          const response = await context.app.inject({
            url: `/_layouts/15/userphoto.aspx?size=${size}&accountname=${jane.upn}`,
            headers: { authorization: `Bearer ${token}` },
          });
          statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
          if (response.statusCode === 200) expect(response.rawPayload.subarray(0, 3).toString('hex')).toBe('ffd8ff');
        }
      }
    });
    await Promise.all([changing, ...looking]);
    expect([...statuses.keys()]).toEqual([200]);
    expect(statuses.get(200)).toBeGreaterThan(30);
  }, 180_000); // two processes, each rendering 36 pictures
});
