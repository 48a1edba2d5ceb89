import { randomUUID } from 'node:crypto';
import { CompiledQuery, sql } from 'kysely';
import { beforeAll, expect, it } from 'vitest';
import {
  countByState,
  DENSE_MATCHES,
  listUsersPage,
  pageKeysQuery,
  type UsersPageQuery,
} from '../src/admin/users-query.js';
import { removeMailPhoto } from '../src/mail/photo-store.js';
import { recordAttempt } from '../src/sync/history.js';
import type { Services } from '../src/services.js';
import { getMailPhoto } from '../src/mail/photo-store.js';
import { listSyncStatus } from '../src/sync/status.js';
import { renditionSpec } from '../src/sites/library.js';
import { isOutOfStep, SYNC_STATES, type SyncStateName } from '../src/sync/state.js';
import { giveMailPhoto, giveMailPhotoAlone, makeUser, solidJpeg } from './support/factories.js';
import { describeEachDialect, useTestServices } from './support/services.js';
import { runCommand } from './support/cli.js';

describeEachDialect('admin user status', (dialect) => {
  const context = useTestServices(dialect);
  let services: Services;
  beforeAll(() => ({ services } = context));

  const statusRow = (userId: string) =>
    services.database.db
      .selectFrom('admin_user_status')
      .select(['state', 'since'])
      .where('user_id', '=', userId)
      .executeTakeFirstOrThrow();
  /** The trigger-kept state must always equal the full classification of sync/status.ts. */
  const expectState = async (userId: string, upn: string, state: string) => {
    expect((await statusRow(userId)).state).toBe(state);
    const spec = renditionSpec(services.syncSettings().renditionSizes);
    const full = await listSyncStatus(services.database.db, services.config.publicUrl, spec);
    expect(full.find((s) => s.upn === upn)?.state).toBe(state);
  };

  it('follows every transition through writes alone, and keeps the time the wait began', async () => {
    const user = await makeUser(services);
    await expectState(user.id, user.upn, 'no_photo');

    const first = await giveMailPhoto(services, user, await solidJpeg([200, 0, 0], 64));
    await expectState(user.id, user.upn, 'never_synced');
    expect((await statusRow(user.id)).since).toBe(first.changedAt);

    await services.sync.sync(user, 'sharepoint_tile');
    await expectState(user.id, user.upn, 'in_step');

    const second = await giveMailPhoto(services, user, await solidJpeg([0, 200, 0], 64));
    await expectState(user.id, user.upn, 'changed');
    expect((await statusRow(user.id)).since).toBe(second.changedAt);
    // A third photo while already waiting: still waiting since the first change. It is kept without
    // the sites' renditions, so the sync needs the master's file.
    await giveMailPhotoAlone(services, user, await solidJpeg([0, 0, 200], 64));
    expect((await statusRow(user.id)).since).toBe(second.changedAt);

    // The master's file lost: the sync fails and the user is "failing".
    const mail = await getMailPhoto(services.database.db, user.id);
    await services.blobs.delete([mail!.blobKey]);
    expect((await services.sync.sync(user, 'admin')).outcome).toBe('failed');
    await expectState(user.id, user.upn, 'failing');

    await giveMailPhoto(services, user, await solidJpeg([90, 90, 0], 64));
    expect((await services.sync.sync(user, 'onedrive_tile')).outcome).toBe('synced');
    await expectState(user.id, user.upn, 'in_step');

    const mailDeps = { db: services.database.db, dialect: services.database.dialect, blobs: services.blobs };
    await removeMailPhoto(mailDeps, user);
    await expectState(user.id, user.upn, 'changed');
    await services.sync.sync(user, 'sharepoint_tile');
    await expectState(user.id, user.upn, 'no_photo');

    const noMailbox = await makeUser(services, { hasMailbox: false });
    await expectState(noMailbox.id, noMailbox.upn, 'no_mailbox');
  });

  it('a failure counts for the photo it failed on: a new photo waits as changed until an attempt fails on it too', async () => {
    const user = await makeUser(services);
    const first = await giveMailPhoto(services, user, await solidJpeg([200, 0, 0], 64));
    await services.sync.sync(user, 'sharepoint_tile');
    const fail = (etag: string, startedAt: number) =>
      recordAttempt(
        services.database.db,
        {
          userId: user.id,
          trigger: 'sharepoint_tile',
          outcome: 'failed',
          startedAt,
          durationMs: 3,
          etagBefore: first.etag,
          etagAfter: first.etag,
          error: 'The renderer gave up.',
        },
        etag,
        60_000,
      );
    const second = await giveMailPhoto(services, user, await solidJpeg([0, 200, 0], 64));
    await fail(second.etag, Date.now());
    await expectState(user.id, user.upn, 'failing');
    // The third photo is not the one that failed: it waits for the user's action, as any change.
    const third = await giveMailPhoto(services, user, await solidJpeg([0, 0, 200], 64));
    await expectState(user.id, user.upn, 'changed');
    // The command line's table shows no error beside it: that one was of another photo.
    const table = () => runCommand(['status', '--user', user.upn], context.store.env).then((r) => r.stdout);
    expect(await table()).not.toContain('The renderer gave up.');
    // A failure on it is failing again, since that failure: the wait for this photo began there.
    const failedAt = Date.now() + 1;
    await fail(third.etag, failedAt);
    await expectState(user.id, user.upn, 'failing');
    expect(await table()).toContain('The renderer gave up.');
    expect((await statusRow(user.id)).since).toBe(failedAt);
    // Another failure of the same photo runs on from the first.
    await fail(third.etag, failedAt + 5);
    expect((await statusRow(user.id)).since).toBe(failedAt);
    await removeMailPhoto(
      { db: services.database.db, dialect: services.database.dialect, blobs: services.blobs },
      user,
    );
    await expectState(user.id, user.upn, 'changed');
  });

  it('counts pictures made at other sizes as changed when an admin changes the sizes', async () => {
    const user = await makeUser(services);
    const admin = await makeUser(services, { isAdmin: true });
    await giveMailPhoto(services, user, await solidJpeg([10, 120, 10], 64));
    await services.sync.sync(user, 'sharepoint_tile');
    await expectState(user.id, user.upn, 'in_step');
    const sizes = services.syncSettings().renditionSizes;
    // Synced long ago: the wait for the new sizes begins when they are set, not at that sync.
    await services.database.db
      .updateTable('site_profiles')
      .set({ picture_timestamp: Date.now() - 30 * 86_400_000 })
      .where('user_id', '=', user.id)
      .execute();
    const changedAt = Date.now();
    await services.settings.update({ renditionSizes: { S: 40, M: 80, L: 200 } }, admin);
    await expectState(user.id, user.upn, 'changed');
    expect((await statusRow(user.id)).since).toBeGreaterThanOrEqual(changedAt);
    // The command line's table shows the same ETag twice: it says why the state is "changed".
    const status = await runCommand(['status', '--user', user.upn], context.store.env);
    expect(status.stdout).toContain(
      '"Changed since last sync" with the same ETags: the rendition sizes were changed since; the next sync makes the pictures at the new sizes.',
    );
    await services.sync.sync(user, 'sharepoint_tile');
    expect((await runCommand(['status', '--user', user.upn], context.store.env)).stdout).not.toContain('same ETags');
    await expectState(user.id, user.upn, 'in_step');
    await services.settings.update({ renditionSizes: sizes }, admin);
    await expectState(user.id, user.upn, 'changed');
    await services.sync.sync(user, 'sharepoint_tile');
  });

  it('lists those a request to sync can help first, by the same rule as the sync state module', async () => {
    const { db } = services.database;
    const user = await makeUser(services);
    // The generated column repeats isOutOfStep in SQL: each state, set in a transaction rolled back.
    for (const state of SYNC_STATES) {
      const rank = await db
        .transaction()
        .execute(async (trx) => {
          await trx.updateTable('admin_user_status').set({ state }).where('user_id', '=', user.id).execute();
          const row = await trx
            .selectFrom('admin_user_status')
            .select('action_rank')
            .where('user_id', '=', user.id)
            .executeTakeFirstOrThrow();
          throw Object.assign(new Error('roll back'), { rank: row.action_rank });
        })
        .catch((error: { rank: number }) => error.rank);
      expect([state, rank]).toEqual([state, isOutOfStep(state) ? 0 : 1]);
    }

    const changed = await makeUser(services);
    await giveMailPhoto(services, changed, await solidJpeg([0, 90, 0], 64));
    const all: Array<{ state: SyncStateName; since: number }> = [];
    let after: string | undefined;
    do {
      const page = await listUsersPage(db, { after, limit: 7 });
      all.push(...page.users);
      after = page.next ?? undefined;
    } while (after);
    const firstOther = all.findIndex((u) => !isOutOfStep(u.state));
    expect(firstOther).toBeGreaterThan(0);
    expect(all.slice(firstOther).every((u) => !isOutOfStep(u.state))).toBe(true);
    expect(all.length).toBe(
      await db
        .selectFrom('admin_user_status')
        .select('user_id')
        .execute()
        .then((r) => r.length),
    );
  });

  it('finds any part of a name or UPN, through an index', async () => {
    const { db } = services.database;
    const kalle = await makeUser(services, { displayName: 'Kalle Kask', upn: `kalle.k.${dialect}@tartu.example` });
    await makeUser(services, { displayName: 'Mari Maasikas', upn: `mari.${dialect}@tartu.example` });
    const names = async (search: string) =>
      (await listUsersPage(db, { search, sort: 'name', limit: 50 })).users.map((u) => u.displayName);
    expect(await names('Kask')).toEqual(['Kalle Kask']);
    expect(await names('ALLE K')).toEqual(['Kalle Kask']);
    expect(await names(`k.${dialect}@tartu`)).toEqual(['Kalle Kask']);
    expect(await names('tartu.example')).toEqual(['Kalle Kask', 'Mari Maasikas']);
    expect(await names('ka%k')).toEqual([]);
    expect(await names('"kask')).toEqual([]);
    // A control character is no part of any name, and a NUL no index can take: refused in words.
    for (const search of ['ka\u0000sk', 'kask\tkalle', 'ka\u0007']) {
      await expect(names(search), JSON.stringify(search)).rejects.toMatchObject({
        status: 400,
        message: 'A search cannot hold control characters such as tabs or line breaks.',
      });
    }
    // Under three characters: the start of a name or UPN.
    expect(await names('ka')).toEqual(['Kalle Kask']);
    // A renamed user is found by the new name only.
    await db.updateTable('directory_users').set({ display_name: 'Kalle Kuusk' }).where('id', '=', kalle.id).execute();
    expect(await names('Kask')).toEqual([]);
    expect(await names('kuusk')).toEqual(['Kalle Kuusk']);

    if (dialect === 'sqlite') {
      // A search most people match reads the page in its own order, testing each row, with the
      // same answers as the trigram index gives.
      const crowd = await Promise.all(
        Array.from({ length: DENSE_MATCHES + 1 }, (_, i) => ({
          id: randomUUID(),
          upn: `crowd${String(i).padStart(5, '0')}@tallinn.example`,
          display_name: `Crowd Person ${i}`,
          enabled: 1,
          is_admin: 0,
          has_mailbox: 1,
          password_hash: null,
          created_at: Date.now(),
        })),
      );
      for (let i = 0; i < crowd.length; i += 500) {
        await db
          .insertInto('directory_users')
          .values(crowd.slice(i, i + 500))
          .execute();
      }
      const page = await listUsersPage(db, { search: 'ROWD PERSON', sort: 'name', limit: 50 });
      const expected = crowd
        .map((u) => u.display_name)
        .filter((n) => n.toLowerCase().includes('rowd person'))
        .sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1))
        .slice(0, 50);
      expect(page.users.map((u) => u.displayName)).toEqual(expected);
      expect(await names('crowd01000')).toEqual(['Crowd Person 1000']);
      expect(await names('ka%k')).toEqual([]);
      expect(await planOf(services, { search: 'kask', sort: 'name', limit: 50 })).toMatch(
        /admin_user_search VIRTUAL TABLE INDEX/,
      );
    } else {
      // A table this small is cheaper to scan; the question is whether the index can serve the search.
      const compiled = pageKeysQuery(db, { search: 'kask', sort: 'name', limit: 50 }).compile();
      const plan = await db.transaction().execute(async (trx) => {
        await sql`set local enable_seqscan = off`.execute(trx);
        const result = await trx.executeQuery<Record<string, unknown>>(
          CompiledQuery.raw(`explain ${compiled.sql}`, [...compiled.parameters]),
        );
        return result.rows.map((r) => String(r['QUERY PLAN'])).join('\n');
      });
      expect(plan).toMatch(/Bitmap Index Scan on admin_user_status_search_name_trgm/);
      expect(plan).toMatch(/Bitmap Index Scan on admin_user_status_upn_trgm/);
      // Every search reads the GIN pending list whole: the trigram indexes keep it at 64 kB, not 4 MB.
      const { rows } = await sql<{ name: string; options: string[] | null }>`
        SELECT c.relname AS name, c.reloptions AS options FROM pg_class c
        WHERE c.relname IN ('admin_user_status_search_name_trgm', 'admin_user_status_upn_trgm',
          'm365_users_display_name_trgm', 'm365_users_upn_trgm')
          AND c.relnamespace = to_regnamespace(current_schema())::oid`.execute(db);
      expect(rows.map((r) => [r.name, r.options]).sort()).toEqual([
        ['admin_user_status_search_name_trgm', ['gin_pending_list_limit=64']],
        ['admin_user_status_upn_trgm', ['gin_pending_list_limit=64']],
        ['m365_users_display_name_trgm', ['gin_pending_list_limit=64']],
        ['m365_users_upn_trgm', ['gin_pending_list_limit=64']],
      ]);
    }
  });

  it('pages through a few thousand users by index, each user once, in waiting order', async () => {
    const { db } = services.database;
    const now = Date.now();
    const users = Array.from({ length: 3000 }, (_, i) => ({
      id: randomUUID(),
      upn: `bulk${String(i).padStart(5, '0')}@fabrikam.com`,
      display_name: `Bulk Person ${i}`,
      enabled: 1,
      is_admin: 0,
      has_mailbox: 1,
      password_hash: null,
      created_at: now,
    }));
    for (let i = 0; i < users.length; i += 500)
      await db
        .insertInto('directory_users')
        .values(users.slice(i, i + 500))
        .execute();
    // Every tenth person has a mail photo that was never synced, changed at distinct times.
    const photographed = users.filter((_, i) => i % 10 === 0);
    await db
      .insertInto('mail_photos')
      .values(
        photographed.map((u, i) => ({
          user_id: u.id,
          etag: `e${i}`,
          blob_key: `mail/${u.id}/x.jpg`,
          side: 64,
          byte_size: 100,
          changed_at: now - i * 1000,
        })),
      )
      .execute();
    if (dialect === 'postgres') await sql`analyze`.execute(db);

    const seen: string[] = [];
    let after: string | undefined;
    let previous = -Infinity;
    do {
      const page = await listUsersPage(db, { state: 'never_synced', sort: 'waiting', after, limit: 70 });
      for (const row of page.users) {
        expect(row.since).toBeGreaterThanOrEqual(previous);
        previous = row.since;
        seen.push(row.upn);
      }
      after = page.next ?? undefined;
    } while (after);
    const bulk = seen.filter((upn) => upn.endsWith('@fabrikam.com'));
    expect(new Set(bulk).size).toBe(300);
    expect(bulk[0]).toBe(photographed.at(-1)!.upn);

    const found = await listUsersPage(db, { search: 'BULK PERSON 29', sort: 'name', limit: 20 });
    expect(found.users.map((u) => u.displayName).slice(0, 2)).toEqual(['Bulk Person 29', 'Bulk Person 290']);
    expect((await listUsersPage(db, { search: 'bulk00012@', limit: 5 })).users.map((u) => u.upn)).toEqual([
      'bulk00012@fabrikam.com',
    ]);
    const counts = await countByState(db);
    expect(counts.find((c) => c.state === 'never_synced')?.users).toBeGreaterThanOrEqual(300);

    // The plans: every page form reads an index range of the status table, never the whole table.
    const cursor = (await listUsersPage(db, { state: 'never_synced', sort: 'waiting', limit: 10 })).next!;
    const queries = [
      { state: 'never_synced' as const, sort: 'waiting' as const, after: cursor },
      { state: 'changed' as const, sort: 'name' as const },
      { sort: 'waiting' as const },
      { sort: 'action' as const },
      { sort: 'action' as const, after: (await listUsersPage(db, { limit: 10 })).next! },
      { search: 'bulk p', sort: 'name' as const },
    ];
    for (const query of queries) {
      const plan = await planOf(services, { ...query, limit: 50 });
      if (dialect === 'sqlite') {
        expect(plan).toMatch(/admin_user_status USING (COVERING )?INDEX/);
        expect(plan).not.toMatch(/SCAN admin_user_status(?! USING)/);
      } else {
        expect(plan).toMatch(/Index (Only )?Scan using admin_user_status|Bitmap Index Scan on admin_user_status/);
        expect(plan).not.toMatch(/Seq Scan on admin_user_status/);
      }
    }
  });
});

/** The database's plan for the statement that reads the status table for this page. */
async function planOf(services: Services, query: UsersPageQuery): Promise<string> {
  const { db, dialect } = services.database;
  const compiled = pageKeysQuery(db, query).compile();
  const prefix = dialect === 'sqlite' ? 'explain query plan ' : 'explain ';
  const result = await db.executeQuery<Record<string, unknown>>(
    CompiledQuery.raw(prefix + compiled.sql, [...compiled.parameters]),
  );
  return result.rows.map((r) => String(r.detail ?? r['QUERY PLAN'])).join('\n');
}
