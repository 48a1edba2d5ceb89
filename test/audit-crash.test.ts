import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { listAudit, type AuditEntry } from '../src/admin/audit.js';
import { auditSentences } from '../src/admin/pages/audit-words.js';
import { findUserByUpn } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import { getSiteProfile } from '../src/sites/profiles.js';
import { listAttempts } from '../src/sync/history.js';
import { translator } from '../src/web/i18n.js';
import { runCommand } from './support/cli.js';
import { giveMailPhoto, makeUser, solidJpeg, tokenFor } from './support/factories.js';
import { startServe } from './support/serve-process.js';
import { describeEachDialect, useTestServices, type TestStore } from './support/services.js';

// Work done and its audit entry survive a crash together: a process killed (SIGKILL) at any point
// leaves an audit log that says what was done, no more and no less. The command line's sync and
// each user's sync of an operator's sync record their entry in the sync's own commit; an import
// counts each user in the commit that adds them.

const BIN = path.resolve('bin/photosync.js');

/** `photosync <args>` in a child process that kills itself with SIGKILL at `point`. */
function commandKilledAt(store: TestStore, args: string[], point: string): Promise<NodeJS.Signals | number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH, ...store.env, NODE_ENV: 'test', PHOTOSYNC_FAULT_INJECTION: point },
      stdio: 'ignore',
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(signal ?? code));
  });
}

const en = { locale: 'en' as const, t: translator('en'), csrfToken: 'x' };

describeEachDialect('the audit log after a crash', (dialect) => {
  const context = useTestServices(dialect);
  let services: Services;
  let work: string;
  beforeAll(async () => {
    ({ services } = context);
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-audit-crash-'));
  });
  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  const entriesAfter = async (id: number, action: AuditEntry['action']) =>
    (await listAudit(services.database.db, { limit: 200 })).entries.filter((e) => e.id > id && e.action === action);
  const lastId = async () => (await listAudit(services.database.db, { limit: 1 })).entries[0]?.id ?? 0;

  it('photosync sync: the switch of pictures and its entry commit together', async () => {
    const user = await makeUser(services);
    const photo = await giveMailPhoto(services, user, await solidJpeg([200, 40, 40], 200));
    const before = await lastId();

    expect(await commandKilledAt(context.store, ['sync', user.upn], 'before-commit')).toBe('SIGKILL');
    expect((await getSiteProfile(services.database.db, user.id))?.syncedEtag ?? null).toBeNull();
    expect(await entriesAfter(before, 'operator_sync')).toEqual([]);

    expect(await commandKilledAt(context.store, ['sync', user.upn], 'after-commit')).toBe('SIGKILL');
    expect((await getSiteProfile(services.database.db, user.id))?.syncedEtag).toBe(photo.etag);
    const entries = await entriesAfter(before, 'operator_sync');
    expect(entries).toMatchObject([
      { byCommandLine: true, detail: { results: [{ upn: user.upn, outcome: 'synced', error: null }] } },
    ]);
    expect((await listAttempts(services.database.db, user.id)).map((a) => a.outcome)).toEqual(['synced']);

    // A sync that finds nothing to do records its entry with its attempt.
    const again = await runCommand(['sync', user.upn], context.store.env);
    expect(again.code, again.stderr).toBe(0);
    expect((await entriesAfter(before, 'operator_sync')).map((e) => e.detail.results)).toEqual([
      [{ upn: user.upn, outcome: 'unchanged', error: null }],
      [{ upn: user.upn, outcome: 'synced', error: null }],
    ]);
  }, 60_000);

  it("the operator's sync over HTTP: the entry names everyone first and each user's sync as it commits", async () => {
    const admin = await makeUser(services, { isAdmin: true });
    await services.settings.update({ operatorSync: true }, admin);
    const token = await tokenFor(services, admin);
    const [first, second] = [await makeUser(services), await makeUser(services)];
    const firstPhoto = await giveMailPhoto(services, first!, await solidJpeg([20, 160, 40], 200));
    await giveMailPhoto(services, second!, await solidJpeg([20, 40, 160], 200));
    const upns = [first!.upn, second!.upn];

    /** Asks a server that dies at `point` to sync both; the request ends with the process. */
    const syncKilledAt = async (point: string) => {
      const server = await startServe({ ...context.store.env, NODE_ENV: 'test', PHOTOSYNC_FAULT_INJECTION: point });
      try {
        const asked = fetch(`${server.url}/admin/api/sync`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ upns }),
        });
        await expect(asked).rejects.toThrow();
      } finally {
        await server.stop();
      }
    };

    let before = await lastId();
    await syncKilledAt('before-commit');
    expect((await getSiteProfile(services.database.db, first!.id))?.syncedEtag ?? null).toBeNull();
    let [entry] = await entriesAfter(before, 'operator_sync');
    expect(entry).toMatchObject({ actorUpn: admin.upn, detail: { results: [], pending: upns } });
    expect(auditSentences(en, entry!)).toEqual([`The sync stopped before it reached: ${upns.join(', ')}.`]);

    before = await lastId();
    await syncKilledAt('after-commit');
    expect((await getSiteProfile(services.database.db, first!.id))?.syncedEtag).toBe(firstPhoto.etag);
    expect((await getSiteProfile(services.database.db, second!.id))?.syncedEtag ?? null).toBeNull();
    [entry] = await entriesAfter(before, 'operator_sync');
    expect(entry).toMatchObject({
      actorUpn: admin.upn,
      detail: { results: [{ upn: first!.upn, outcome: 'synced', error: null }], pending: [second!.upn] },
    });
    expect(auditSentences(en, entry!)).toEqual([
      `Ran the sync for: ${first!.upn} (Synced).`,
      `The sync stopped before it reached: ${second!.upn}.`,
    ]);
  }, 60_000);

  it('photosync users import: the entry counts exactly the users committed, wherever it stops', async () => {
    const rows = Array.from(
      { length: 12 },
      (_, i) => `crash${i}@contoso.com,Crash ${i},,yes,${i % 3 === 0 ? 'yes' : 'no'}`,
    );
    const file = path.join(work, 'crash.csv');
    await fs.writeFile(file, ['upn,displayName,password,mailbox,admin', ...rows].join('\n'));
    const upnsIn = async () => {
      const found = [];
      for (let i = 0; i < rows.length; i++) {
        const user = await findUserByUpn(services.database.db, `crash${i}@contoso.com`);
        if (user) found.push(user);
      }
      return found;
    };

    let before = await lastId();
    expect(await commandKilledAt(context.store, ['users', 'import', file], 'import-before-commit')).toBe('SIGKILL');
    expect(await upnsIn()).toEqual([]);
    expect(await entriesAfter(before, 'users_imported')).toEqual([]);

    expect(await commandKilledAt(context.store, ['users', 'import', file], 'import-after-commit-5')).toBe('SIGKILL');
    const added = await upnsIn();
    expect(added.length).toBeGreaterThanOrEqual(5);
    let entries = await entriesAfter(before, 'users_imported');
    expect(entries).toHaveLength(1);
    expect(entries[0]?.detail).toEqual({
      file: 'crash.csv',
      imported: added.length,
      admins: expect.arrayContaining(added.filter((u) => u.isAdmin).map((u) => u.upn)),
      unfinished: true,
    });
    expect((entries[0]?.detail.admins as string[]).length).toBe(added.filter((u) => u.isAdmin).length);
    expect(auditSentences(en, entries[0]!)[0]).toBe(
      `Began importing users from crash.csv; the import stopped before the end (users added: ${added.length}).`,
    );

    // The same sheet again completes it, and its entry counts only the users it added.
    before = await lastId();
    const rest = await runCommand(['users', 'import', file, '--skip-existing'], context.store.env, work);
    expect(rest.code, rest.stderr).toBe(0);
    const all = await upnsIn();
    expect(all).toHaveLength(rows.length);
    entries = await entriesAfter(before, 'users_imported');
    expect(entries.map((e) => e.detail)).toEqual([
      {
        file: 'crash.csv',
        imported: rows.length - added.length,
        skipped: 0,
        admins: all
          .filter((u) => u.isAdmin && !added.some((a) => a.id === u.id))
          .map((u) => u.upn)
          .sort(),
      },
    ]);
  }, 60_000);
});
