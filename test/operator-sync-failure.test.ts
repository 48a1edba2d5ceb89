import { sql } from 'kysely';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { getAuditEntry, listAudit } from '../src/admin/audit.js';
import { auditSentences } from '../src/admin/pages/audit-words.js';
import type { DirectoryUser } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import { getSiteProfile } from '../src/sites/profiles.js';
import { translator } from '../src/web/i18n.js';
import { giveMailPhoto, makeUser, PASSWORD, solidJpeg, tokenFor } from './support/factories.js';
import { HttpClient } from './support/http-client.js';
import { describeEachDialect, useListeningTestApp } from './support/services.js';

// An operator's sync in which one user's sync fails without a record of its own (its attempt's
// record refused by the database) and another user is removed after being chosen: each is in the
// audit entry with its outcome, the others are synced, and nobody is left `pending` (which says
// only that the process stopped before reaching them).

const en = { locale: 'en' as const, t: translator('en'), csrfToken: 'x' };
const et = { locale: 'et' as const, t: translator('et'), csrfToken: 'x' };

describeEachDialect('an operator sync in which one user fails and one is removed', (dialect) => {
  const context = useListeningTestApp(dialect);
  let services: Services;
  let admin: DirectoryUser;
  let base: string;
  beforeAll(async () => {
    ({ services } = context);
    base = `http://127.0.0.1:${context.port}`;
    admin = await makeUser(services, { isAdmin: true });
    await services.settings.update({ operatorSync: true }, admin);
  });
  afterEach(async () => {
    const { db } = services.database;
    if (dialect === 'sqlite') {
      await sql`DROP TRIGGER IF EXISTS refuse_attempt`.execute(db);
      await sql`DROP TRIGGER IF EXISTS remove_user`.execute(db);
    } else {
      await sql`DROP TRIGGER IF EXISTS refuse_attempt ON sync_attempts`.execute(db);
      await sql`DROP TRIGGER IF EXISTS remove_user ON sync_attempts`.execute(db);
      await sql`DROP FUNCTION IF EXISTS refuse_attempt()`.execute(db);
      await sql`DROP FUNCTION IF EXISTS remove_user()`.execute(db);
    }
  });

  /** Three users with mail photos; the database refuses `refused`'s attempts and removes `removed` when `first`'s is written. */
  async function threeUsers() {
    const users = [];
    for (const colour of [
      [200, 40, 40],
      [40, 200, 40],
      [40, 40, 200],
    ] as const) {
      const user = await makeUser(services);
      await giveMailPhoto(services, user, await solidJpeg([...colour], 200));
      users.push(user);
    }
    const [first, refused, removed] = users as [DirectoryUser, DirectoryUser, DirectoryUser];
    const { db } = services.database;
    const [firstId, refusedId, removedId] = [sql.lit(first.id), sql.lit(refused.id), sql.lit(removed.id)];
    if (dialect === 'sqlite') {
      await sql`CREATE TRIGGER refuse_attempt BEFORE INSERT ON sync_attempts WHEN NEW.user_id = ${refusedId}
        BEGIN SELECT RAISE(ABORT, 'attempt refused'); END`.execute(db);
      await sql`CREATE TRIGGER remove_user AFTER INSERT ON sync_attempts WHEN NEW.user_id = ${firstId}
        BEGIN DELETE FROM directory_users WHERE id = ${removedId}; END`.execute(db);
    } else {
      await sql`CREATE FUNCTION refuse_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.user_id = ${refusedId} THEN RAISE EXCEPTION 'attempt refused'; END IF; RETURN NEW; END $$`.execute(
        db,
      );
      await sql`CREATE TRIGGER refuse_attempt BEFORE INSERT ON sync_attempts FOR EACH ROW EXECUTE FUNCTION refuse_attempt()`.execute(
        db,
      );
      await sql`CREATE FUNCTION remove_user() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.user_id = ${firstId} THEN DELETE FROM directory_users WHERE id = ${removedId}; END IF; RETURN NULL; END $$`.execute(
        db,
      );
      await sql`CREATE TRIGGER remove_user AFTER INSERT ON sync_attempts FOR EACH ROW EXECUTE FUNCTION remove_user()`.execute(
        db,
      );
    }
    return { first, refused, removed };
  }

  const lastId = async () => (await listAudit(services.database.db, { limit: 1 })).entries[0]?.id ?? 0;

  it('POST /admin/api/sync answers each user’s outcome and the entry records them all', async () => {
    const { first, refused, removed } = await threeUsers();
    const before = await lastId();
    const response = await fetch(`${base}/admin/api/sync`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await tokenFor(services, admin)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ upns: [first.upn, refused.upn, removed.upn] }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      results: [
        { upn: first.upn, outcome: 'synced', error: null },
        { upn: refused.upn, outcome: 'failed', error: expect.stringContaining('attempt refused') },
        { upn: removed.upn, outcome: 'not_found', error: `There is no user ${removed.upn}.` },
      ],
    });
    expect((await getSiteProfile(services.database.db, first.id))?.syncedEtag).toEqual(expect.any(String));

    const entries = (await listAudit(services.database.db, { limit: 10 })).entries.filter(
      (e) => e.id > before && e.action === 'operator_sync',
    );
    expect(entries).toHaveLength(1);
    const entry = entries[0]!;
    expect(entry.detail).toEqual({
      results: [
        { upn: first.upn, outcome: 'synced', error: null },
        { upn: refused.upn, outcome: 'failed', error: expect.stringContaining('attempt refused') },
        { upn: removed.upn, outcome: 'not_found', error: `There is no user ${removed.upn}.` },
      ],
    });
    expect(auditSentences(en, entry)).toEqual([
      `Ran the sync for: ${first.upn} (Synced), ${refused.upn} (Failed), ${removed.upn} (User removed before their sync).`,
    ]);
    expect(auditSentences(et, entry)).toEqual([
      `Käivitas sünkroonimise: ${first.upn} (Sünkroonitud), ${refused.upn} (Ebaõnnestus), ${removed.upn} (Kasutaja eemaldati enne sünkroonimist).`,
    ]);
  }, 60_000);

  it('the form: the notice and the audit page tell each outcome, and nobody is left pending', async () => {
    const { first, refused, removed } = await threeUsers();
    const browser = new HttpClient(base, 'et');
    expect((await browser.signIn(admin.upn, PASSWORD)).status).toBe(303);
    const token = await browser.csrfToken('/admin/users');
    const sent = await browser.request('POST', '/admin/sync', {
      form: { _csrf: token, upn: [first.upn, refused.upn, removed.upn] },
    });
    expect(sent.status).toBe(303);
    const after = await browser.request('GET', sent.headers.get('location')!);
    expect(after.body).toContain(
      'Halduri käivitatud sünkroonimine lõppes. Uuendatud: 1, ebaõnnestunud: 2, muutmata: 0.',
    );
    expect(after.body).toContain(`${first.upn} – Sünkroonitud`);
    expect(after.body).toContain(`${refused.upn} – Ebaõnnestus`);
    expect(after.body).toContain(`${removed.upn} – Kasutaja eemaldati enne sünkroonimist`);

    const entry = await getAuditEntry(services.database.db, await lastId());
    expect(entry).toMatchObject({ action: 'operator_sync', actorUpn: admin.upn });
    expect(entry!.detail).not.toHaveProperty('pending');
    const audit = await browser.request('GET', '/admin/audit');
    expect(audit.body).toContain(
      `Käivitas sünkroonimise: ${first.upn} (Sünkroonitud), ${refused.upn} (Ebaõnnestus), ${removed.upn} (Kasutaja eemaldati enne sünkroonimist).`,
    );
    expect(audit.body).not.toContain('Sünkroonimine katkes');
  }, 60_000);
});
