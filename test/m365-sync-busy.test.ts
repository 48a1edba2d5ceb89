import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeTestCertificate } from '../src/m365/test-certificate.js';
import { ensureTenantUser } from '../src/m365/users.js';
import type { Services } from '../src/services.js';
import { createLeaseLock } from '../src/storage/user-lock.js';
import { runCommand } from './support/cli.js';
import { createTestStore, openTestServices, type TestStore } from './support/services.js';

// `photosync m365 sync` when another push holds a user (another process, the console): the user is
// busy, nothing is done for them, and the command says so and exits 75 (try again), not 0. The
// wait for the user's lock is shortened from 30 s so that the test does not sit through it; the
// pushes never reach the tenant (the lock is taken first), so none is needed.

vi.mock(import('../src/storage/user-lock.js'), async (original) => {
  const actual = await original();
  return { ...actual, createLeaseLock: (db, options = {}) => actual.createLeaseLock(db, { ...options, waitMs: 200 }) };
});

describe('photosync m365 sync with a user another push holds', () => {
  let store: TestStore;
  let services: Services;
  let env: Record<string, string>;
  beforeAll(async () => {
    store = await createTestStore('sqlite');
    services = await openTestServices(store);
    const pem = makeTestCertificate();
    await fs.writeFile(path.join(store.dataDir, 'app.pem'), pem.combined, { mode: 0o600 });
    // Nothing listens there: a push that got past the lock would fail, not come back busy.
    const nowhere = 'https://localhost:9';
    env = {
      ...store.env,
      PHOTOSYNC_M365_TENANT: 'contoso.onmicrosoft.com',
      PHOTOSYNC_M365_CLIENT_ID: '6731de76-14a6-49ae-97bc-6eba6914391e',
      PHOTOSYNC_M365_CERTIFICATE: path.join(store.dataDir, 'app.pem'),
      PHOTOSYNC_M365_SHAREPOINT_URL: nowhere,
      PHOTOSYNC_M365_MYSITE_URL: nowhere,
      PHOTOSYNC_M365_ADMIN_URL: nowhere,
      PHOTOSYNC_M365_AUTHORITY_HOST: nowhere,
      PHOTOSYNC_M365_GRAPH_URL: nowhere,
    };
    const { db } = services.database;
    for (const upn of ['adele@contoso.com', 'bert@contoso.com']) {
      await ensureTenantUser(db, { id: upn, upn, displayName: upn, accountEnabled: true, hasMailbox: true });
    }
    await db.updateTable('m365_users').set({ state: 'changed', state_at: Date.now() }).execute();
  });
  afterAll(async () => {
    await services.close();
    await store.drop();
  });

  /** Runs `m365 sync` while another holder has these users' push lock. */
  async function whileHeld(upns: string[], args: string[]) {
    const elsewhere = createLeaseLock(services.database.db);
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const holders = upns.map((upn) => {
      let taken = () => {};
      const isTaken = new Promise<void>((resolve) => (taken = resolve));
      const done = elsewhere.run(`m365:${upn}`, async () => {
        taken();
        await held;
      });
      return { isTaken, done };
    });
    await Promise.all(holders.map((h) => h.isTaken));
    try {
      return await runCommand(['m365', 'sync', ...args], env);
    } finally {
      release();
      await Promise.all(holders.map((h) => h.done));
    }
  }

  it('one user: exits 75 and says to run it again', { timeout: 30_000 }, async () => {
    const result = await whileHeld(['adele@contoso.com'], ['adele@contoso.com']);
    expect(result.stdout).toContain('adele@contoso.com: another push of this user is running');
    expect(result.stdout).toContain(
      'Busy, nothing done for them (another push of the same user was still running): adele@contoso.com. ' +
        'Run photosync m365 sync adele@contoso.com again.',
    );
    expect(result.code).toBe(75);
  });

  it('every out-of-step user: the summary counts the busy ones and names them', { timeout: 30_000 }, async () => {
    const result = await whileHeld(['adele@contoso.com', 'bert@contoso.com'], ['--all-out-of-step']);
    expect(result.stdout).toContain('2 users, 0 failed, 2 busy.');
    expect(result.stdout).toContain(
      'Busy, nothing done for them (another push of the same user was still running): ' +
        'adele@contoso.com, bert@contoso.com. Run photosync m365 sync --all-out-of-step again.',
    );
    expect(result.code).toBe(75);
  });
});
