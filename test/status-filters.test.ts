import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryUser } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import type { UserSyncStatus } from '../src/sync/status.js';
import { runCommand } from './support/cli.js';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';
import { createTestStore, openTestServices, type TestStore } from './support/services.js';

// photosync status on an organisation of thousands prints every user; an administrator asking
// "who is out of step?" or "what about Jane?" narrows it with --out-of-step, --state and --user.
// The summary still counts everyone, and says how many rows it shows.

describe('photosync status, narrowed', () => {
  let store: TestStore;
  let services: Services;
  let inStep: DirectoryUser;
  let changed: DirectoryUser;
  let neverSynced: DirectoryUser;
  let noPhoto: DirectoryUser;

  beforeAll(async () => {
    store = await createTestStore('sqlite');
    services = await openTestServices(store);
    [inStep, changed, neverSynced, noPhoto] = [
      await makeUser(services),
      await makeUser(services),
      await makeUser(services),
      await makeUser(services),
    ];
    for (const user of [inStep, changed]) {
      await giveMailPhoto(services, user, await solidJpeg([20, 120, 20], 96));
      await services.sync.sync(user, 'admin');
    }
    await giveMailPhoto(services, changed, await solidJpeg([120, 20, 20], 96));
    await giveMailPhoto(services, neverSynced, await solidJpeg([20, 20, 120], 96));
  });
  afterAll(async () => {
    await services?.close();
    await store?.drop();
  });

  const status = (...args: string[]) => runCommand(['status', ...args], store.env);
  const userRows = (stdout: string) => stdout.split('\n').filter((line) => /^\S+@contoso\.com\s/.test(line));

  it('--out-of-step shows the users who are out of step, and counts everyone', async () => {
    const result = await status('--out-of-step');
    expect(result.code, result.stderr).toBe(0);
    const rows = userRows(result.stdout);
    expect(rows.map((row) => row.split(/\s+/)[0]).sort()).toEqual([changed.upn, neverSynced.upn].sort());
    // The summary in one order, those waiting for their action first.
    expect(result.stdout).toMatch(/^4 users: 1 changed since last sync, 1 never synced, 1 in step, 1 no mail photo\./m);
    expect(result.stdout).toContain('Shown: 2 of 4 users (out of step).');
  });

  it('--state takes the state names, more than one; --json shows the same users', async () => {
    const result = await status('--state', 'in_step', '--state', 'no_photo');
    expect(result.code, result.stderr).toBe(0);
    expect(userRows(result.stdout).map((row) => row.split(/\s+/)[0])).toEqual([inStep.upn, noPhoto.upn].sort());
    expect(result.stdout).toContain('Shown: 2 of 4 users (in step, no mail photo).');

    const json = await status('--state', 'never_synced', '--json');
    expect(json.code, json.stderr).toBe(0);
    const statuses = JSON.parse(json.stdout) as UserSyncStatus[];
    expect(statuses.map((s) => [s.upn, s.state])).toEqual([[neverSynced.upn, 'never_synced']]);
  });

  it('--user shows one person, whatever the case of the account name', async () => {
    const result = await status('--user', changed.upn.toUpperCase());
    expect(result.code, result.stderr).toBe(0);
    const rows = userRows(result.stdout);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(new RegExp(`^${changed.upn.replace(/\./g, '\\.')}\\s+changed since last sync`));
    expect(result.stdout).toContain(`Shown: 1 of 4 users (${changed.upn}).`);
  });

  it('a filter nobody matches says so, and exits 0', async () => {
    const result = await status('--state', 'failing');
    expect(result.code, result.stderr).toBe(0);
    expect(userRows(result.stdout)).toEqual([]);
    expect(result.stdout).toContain('Shown: 0 of 4 users (failing).');
  });

  it('refuses an unknown state or user, and says what it takes', async () => {
    const state = await status('--state', 'bogus');
    expect(state.code).toBe(2);
    expect(state.stderr).toContain('"bogus" is not a sync state. The states are: in_step, changed, never_synced');
    expect(state.stderr).toContain('Usage:');

    const user = await status('--user', 'nobody@contoso.com');
    expect(user.code).toBe(1);
    expect(user.stderr).toContain('There is no user nobody@contoso.com.');
    expect(user.stdout).toBe('');
  });
});
