import { spawn } from 'node:child_process';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { findUserByUpn } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import { runCommand } from './support/cli.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import { describeEachDialect, useTestServices, type TestStore } from './support/services.js';

// `photosync users remove` takes the user and every row of theirs away in one commit, then their
// files. Killed after that commit, the user is wholly gone (never a user without their photos), and
// the files their rows named are no one's: the sweep removes them.

const BIN = path.resolve('bin/photosync.js');

function removeKilledAt(store: TestStore, upn: string, point: string): Promise<NodeJS.Signals | number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'users', 'remove', upn], {
      env: { PATH: process.env.PATH, ...store.env, NODE_ENV: 'test', PHOTOSYNC_FAULT_INJECTION: point },
      stdio: 'ignore',
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(signal ?? code));
  });
}

describeEachDialect('users remove killed part-way', (dialect) => {
  const context = useTestServices(dialect);
  let services: Services;
  beforeAll(() => ({ services } = context));

  it('leaves the user wholly gone after its commit, and their files to the sweep', async () => {
    const { db } = services.database;
    const jane = await makeUser(services);
    await makeUser(services, { isAdmin: true });
    await giveMailPhoto(services, jane, await solidJpeg([30, 90, 200], 200));
    expect((await services.sync.sync(jane, 'admin')).outcome).toBe('synced');
    const mail = await db.selectFrom('mail_photos').select('blob_key').where('user_id', '=', jane.id).execute();
    const sites = await db.selectFrom('site_renditions').select('blob_key').where('user_id', '=', jane.id).execute();
    const keys = [...mail, ...sites].map((r) => r.blob_key!);
    expect(keys).toHaveLength(4);

    expect(await removeKilledAt(context.store, jane.upn, 'remove-after-commit')).toBe('SIGKILL');
    expect(await findUserByUpn(db, jane.upn)).toBeUndefined();
    expect(await db.selectFrom('mail_photos').select('user_id').where('user_id', '=', jane.id).execute()).toEqual([]);
    expect(await db.selectFrom('site_profiles').select('user_id').where('user_id', '=', jane.id).execute()).toEqual([]);
    for (const key of keys) expect(await services.blobs.get(key)).toBeDefined();
    const again = await runCommand(['users', 'remove', jane.upn], context.store.env);
    expect(again.code).toBe(1);

    const swept = await runCommand(['maintenance', 'sweep', '--apply'], {
      ...context.store.env,
      PHOTOSYNC_BLOB_SWEEP_MIN_AGE_MINUTES: '0',
    });
    expect(swept.code, swept.stderr).toBe(0);
    for (const key of keys) expect(await services.blobs.get(key)).toBeUndefined();
  });
});
