import { beforeAll, expect, it } from 'vitest';
import type { DirectoryUser } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import { renditionSpec } from '../src/sites/library.js';
import { recordAttempt, type SyncOutcome } from '../src/sync/history.js';
import { listSyncStatus } from '../src/sync/status.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import { describeEachDialect, useTestServices } from './support/services.js';

// Attempts are recorded after the user's lock is let go, so two attempts of one user can be
// recorded in the other order than they started. Each case here records them in that order, with
// the times they started: the sync state must be what it would be had they been recorded in order.

const BACKOFF_MS = 300_000;

describeEachDialect('the sync state with attempts recorded out of order', (dialect) => {
  const context = useTestServices(dialect);
  let services: Services;
  beforeAll(() => ({ services } = context));

  const record = (user: DirectoryUser, outcome: SyncOutcome, startedAt: number, mailEtag: string | null = null) =>
    recordAttempt(
      services.database.db,
      {
        userId: user.id,
        trigger: 'admin',
        outcome,
        startedAt,
        durationMs: 5,
        etagBefore: null,
        etagAfter: null,
        error: outcome === 'failed' ? `failure of ${startedAt}` : null,
      },
      mailEtag,
      BACKOFF_MS,
    );
  const stateOf = (user: DirectoryUser) =>
    services.database.db
      .selectFrom('sync_state')
      .select(['last_attempt_at', 'last_outcome', 'failing_since', 'failed_etag', 'retry_after', 'last_error'])
      .where('user_id', '=', user.id)
      .executeTakeFirstOrThrow();
  /** The state the console and `photosync status` show: from the triggers' table and from the full classification. */
  const shown = async (user: DirectoryUser) => {
    const row = await services.database.db
      .selectFrom('admin_user_status')
      .select('state')
      .where('user_id', '=', user.id)
      .executeTakeFirstOrThrow();
    const spec = renditionSpec(services.syncSettings().renditionSizes);
    const full = await listSyncStatus(services.database.db, services.config.publicUrl, spec);
    return [row.state, full.find((s) => s.upn === user.upn)?.state];
  };

  it('a failure recorded after a later success leaves no running failure', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg([200, 40, 40], 200));
    // The success (a real sync) is recorded first; the failure of an attempt that started before
    // it comes in after.
    const synced = await services.sync.sync(user, 'admin');
    expect(synced.outcome).toBe('synced');
    const { last_attempt_at: successAt } = await stateOf(user);
    await record(user, 'failed', successAt - 50, '"OLD"');
    expect(await stateOf(user)).toEqual({
      last_attempt_at: successAt,
      last_outcome: 'synced',
      failing_since: null,
      failed_etag: null,
      retry_after: null,
      last_error: null,
    });
    expect(await shown(user)).toEqual(['in_step', 'in_step']);
    // The next change of photo waits for the user's action: changed since the last sync, not failing.
    await giveMailPhoto(services, user, await solidJpeg([40, 40, 200], 200));
    expect(await shown(user)).toEqual(['changed', 'changed']);
  });

  it('a success recorded after a later failure leaves the failure running', async () => {
    const user = await makeUser(services);
    const { etag } = await giveMailPhoto(services, user, await solidJpeg([40, 200, 40], 200));
    const t = Date.now();
    await record(user, 'failed', t, etag);
    await record(user, 'unchanged', t - 50);
    expect(await stateOf(user)).toEqual({
      last_attempt_at: t,
      last_outcome: 'failed',
      failing_since: t,
      failed_etag: etag,
      retry_after: t + BACKOFF_MS,
      last_error: `failure of ${t}`,
    });
    expect(await shown(user)).toEqual(['failing', 'failing']);
  });

  it('a failure recorded after a later skip starts the failure, and the skip stays the last attempt', async () => {
    const user = await makeUser(services);
    const { etag } = await giveMailPhoto(services, user, await solidJpeg([40, 200, 200], 200));
    const t = Date.now();
    await record(user, 'recently_checked', t);
    await record(user, 'failed', t - 50, etag);
    expect(await stateOf(user)).toEqual({
      last_attempt_at: t,
      last_outcome: 'recently_checked',
      failing_since: t - 50,
      failed_etag: etag,
      retry_after: t - 50 + BACKOFF_MS,
      last_error: `failure of ${t - 50}`,
    });
    expect(await shown(user)).toEqual(['failing', 'failing']);
  });

  it('in order, a failure of the same photo continues the running one, of another starts anew, and a success ends it', async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg([200, 200, 40], 200));
    const t = Date.now();
    await record(user, 'failed', t, '"A"');
    await record(user, 'failed', t + 5, '"A"');
    expect(await stateOf(user)).toMatchObject({ failing_since: t, failed_etag: '"A"', last_attempt_at: t + 5 });
    await record(user, 'failed', t + 10, '"B"');
    expect(await stateOf(user)).toMatchObject({ failing_since: t + 10, failed_etag: '"B"', last_attempt_at: t + 10 });
    await record(user, 'synced', t + 20);
    expect(await stateOf(user)).toMatchObject({ failing_since: null, last_outcome: 'synced', last_attempt_at: t + 20 });
  });
});
