import { sql } from 'kysely';
import { beforeAll, expect, it } from 'vitest';
import { listAudit, type AuditEntry } from '../src/admin/audit.js';
import { createApp } from '../src/directory/apps.js';
import { getDirectoryPhoto } from '../src/directory/photo.js';
import { tenantId } from '../src/directory/settings.js';
import type { DirectoryUser } from '../src/directory/users.js';
import { getMailPhoto } from '../src/mail/photo-store.js';
import type { Services } from '../src/services.js';
import { userToken } from './support/apps.js';
import { makeUser, PASSWORD, solidJpeg } from './support/factories.js';
import { httpBrowser } from './support/serve-process.js';
import { describeEachDialect, useListeningTestApp } from './support/services.js';

// A mail photo set or removed through Graph by an administrator's token or an app's (client
// credentials) is an admin action: recorded with who did it and whose photo, in the commit that
// changes it, and shown on /admin/audit in words. People changing their own photo are not
// recorded, as in the portal. Real HTTP, with tokens as clients get them.

describeEachDialect('Graph photo changes in the audit log', (dialect) => {
  const context = useListeningTestApp(dialect);
  let services: Services;
  let base: string;
  let admin: DirectoryUser;
  let adminToken: string;
  let app: { clientId: string; name: string };
  let appToken: string;
  beforeAll(async () => {
    ({ services } = context);
    base = `http://127.0.0.1:${context.port}`;
    admin = await makeUser(services, { isAdmin: true });
    adminToken = await userToken(services, admin, ['User.ReadWrite', 'ProfilePhoto.ReadWrite.All']);
    const registered = await createApp(services.database.db, 'HR photo sync', ['ProfilePhoto.ReadWrite.All']);
    app = { clientId: registered.clientId, name: registered.name };
    // Client credentials at the token endpoint, as a daemon gets its token.
    const answer = await fetch(`${base}/${await tenantId(services.database.db)}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: registered.clientId,
        client_secret: registered.secret,
        scope: 'https://graph.microsoft.com/.default',
      }),
    });
    expect(answer.status).toBe(200);
    appToken = ((await answer.json()) as { access_token: string }).access_token;
  });

  const graph = (method: string, path: string, token: string, body?: Buffer) =>
    fetch(`${base}/v1.0${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'image/jpeg' } : {}) },
      ...(body ? { body: new Uint8Array(body) } : {}),
    });
  const lastId = async () => (await listAudit(services.database.db, { limit: 1 })).entries[0]?.id ?? 0;
  const since = async (id: number): Promise<AuditEntry[]> =>
    (await listAudit(services.database.db, { limit: 200 })).entries.filter((e) => e.id > id).reverse();

  it('records an administrator’s and an app’s changes to others’ photos, with who and whose', async () => {
    const jane = await makeUser(services);
    const lee = await makeUser(services, { hasMailbox: false });
    const red = await solidJpeg([200, 30, 30], 120);
    const before = await lastId();

    expect((await graph('PUT', `/users/${jane.upn}/photo/$value`, adminToken, red)).status).toBe(200);
    const byAdmin = await getMailPhoto(services.database.db, jane.id);
    // The same picture again changes nothing, and is not recorded.
    expect((await graph('PUT', `/users/${jane.upn}/photo/$value`, adminToken, red)).status).toBe(200);
    const green = await solidJpeg([30, 200, 30], 120);
    expect((await graph('PUT', `/users/${jane.id}/photo/$value`, appToken, green)).status).toBe(200);
    const byApp = await getMailPhoto(services.database.db, jane.id);
    expect((await graph('DELETE', `/users/${jane.id}/photo`, appToken)).status).toBe(204);
    // Nothing left to remove: ImageNotFound, and no entry.
    expect((await graph('DELETE', `/users/${jane.id}/photo/$value`, appToken)).status).toBe(404);
    // A user without a mailbox: Graph writes the directory photo.
    expect((await graph('PATCH', `/users/${lee.id}/photo/$value`, appToken, red)).status).toBe(200);
    expect((await graph('DELETE', `/users/${lee.upn}/photo/$value`, adminToken)).status).toBe(204);

    const entries = await since(before);
    const byAppActor = { actorUpn: app.name, byCommandLine: false, byApp: app };
    expect(entries).toMatchObject([
      { action: 'photo_set', actorUpn: admin.upn, detail: { upn: jane.upn, etag: byAdmin!.etag, via: 'graph' } },
      { action: 'photo_set', ...byAppActor, detail: { upn: jane.upn, etag: byApp!.etag, via: 'graph' } },
      { action: 'photo_removed', ...byAppActor, detail: { upn: jane.upn, via: 'graph' } },
      { action: 'directory_photo_set', ...byAppActor, detail: { upn: lee.upn, via: 'graph' } },
      { action: 'directory_photo_removed', actorUpn: admin.upn, detail: { upn: lee.upn, via: 'graph' } },
    ]);
    expect(entries[0]?.byApp).toBeUndefined();

    // The log's page says it in words, in English and in Estonian.
    const browser = httpBrowser(base);
    expect((await browser.signIn(admin.upn, PASSWORD)).status).toBe(303);
    const page = async (language: string) => {
      const response = await browser.request('/admin/audit', { headers: { 'accept-language': language } });
      expect(response.status).toBe(200);
      return (await response.text()).replace(/\s+/g, ' ');
    };
    const english = await page('en');
    expect(english).toContain(`App HR photo sync (client id ${app.clientId})`);
    expect(english).toContain(`Set the mail photo of ${jane.upn}.`);
    expect(english).toContain(`Removed the mail photo of ${jane.upn}.`);
    expect(english).toContain(`Set the directory photo of ${lee.upn}.`);
    expect(english).toContain(`Removed the directory photo of ${lee.upn}.`);
    expect(english).toContain('Through Microsoft Graph.');
    const estonian = await page('et');
    expect(estonian).toContain(`Rakendus HR photo sync (kliendi ID ${app.clientId})`);
    expect(estonian).toContain(`Määras kasutajale ${jane.upn} postkasti foto.`);
    expect(estonian).toContain(`Eemaldas kasutaja ${jane.upn} postkasti foto.`);
    expect(estonian).toContain(`Eemaldas kasutaja ${lee.upn} kataloogifoto.`);
    expect(estonian).toContain('Microsoft Graphi kaudu.');

    // The JSON API gives the app too.
    const api = await fetch(`${base}/admin/api/audit?limit=5`, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(api.status).toBe(200);
    const listed = ((await api.json()) as { entries: Array<{ action: string; byApp?: unknown }> }).entries;
    expect(listed.find((e) => e.action === 'directory_photo_set')?.byApp).toEqual(app);
  });

  it('does not record people changing their own photo, by /me or by their own id, an administrator too', async () => {
    const jane = await makeUser(services);
    const own = await userToken(services, jane);
    const before = await lastId();
    expect((await graph('PUT', '/me/photo/$value', own, await solidJpeg([10, 10, 200], 100))).status).toBe(200);
    expect(
      (await graph('PUT', `/users/${jane.id}/photo/$value`, own, await solidJpeg([10, 200, 200], 100))).status,
    ).toBe(200);
    expect((await graph('DELETE', '/me/photo', own)).status).toBe(204);
    expect((await graph('PUT', '/me/photo/$value', adminToken, await solidJpeg([200, 200, 10], 100))).status).toBe(200);
    expect((await graph('DELETE', `/users/${admin.upn}/photo`, adminToken)).status).toBe(204);
    expect(await since(before)).toEqual([]);
  });

  it('changes nothing when the entry cannot be written: the change and its entry are one commit', async () => {
    const { db } = services.database;
    const jane = await makeUser(services);
    const lee = await makeUser(services, { hasMailbox: false });
    const own = await userToken(services, jane);
    expect((await graph('PUT', '/me/photo/$value', own, await solidJpeg([90, 90, 90], 100))).status).toBe(200);
    const kept = await getMailPhoto(db, jane.id);
    expect(
      (await graph('PUT', `/users/${lee.id}/photo/$value`, adminToken, await solidJpeg([9, 9, 9], 96))).status,
    ).toBe(200);
    const leePhoto = await getDirectoryPhoto(db, lee.id);
    if (dialect === 'sqlite') {
      await sql`CREATE TRIGGER refuse_audit BEFORE INSERT ON admin_audit BEGIN SELECT RAISE(ABORT, 'audit refused'); END`.execute(
        db,
      );
    } else {
      await sql`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$`.execute(
        db,
      );
      await sql`CREATE TRIGGER refuse_audit BEFORE INSERT ON admin_audit FOR EACH ROW EXECUTE FUNCTION refuse_audit()`.execute(
        db,
      );
    }
    try {
      const other = await solidJpeg([250, 120, 0], 100);
      expect((await graph('PUT', `/users/${jane.id}/photo/$value`, appToken, other)).status).toBe(500);
      expect((await graph('DELETE', `/users/${jane.id}/photo`, adminToken)).status).toBe(500);
      expect((await graph('PUT', `/users/${lee.id}/photo/$value`, appToken, other)).status).toBe(500);
      expect((await graph('DELETE', `/users/${lee.id}/photo`, appToken)).status).toBe(500);
      expect((await getMailPhoto(db, jane.id))?.etag).toBe(kept!.etag);
      expect(await getDirectoryPhoto(db, lee.id)).toEqual(leePhoto);
      // Her own change is hers to make: no entry is needed for it.
      expect((await graph('PUT', '/me/photo/$value', own, other)).status).toBe(200);
      expect((await getMailPhoto(db, jane.id))?.etag).not.toBe(kept!.etag);
    } finally {
      if (dialect === 'sqlite') await sql`DROP TRIGGER IF EXISTS refuse_audit`.execute(db);
      else {
        await sql`DROP TRIGGER IF EXISTS refuse_audit ON admin_audit`.execute(db);
        await sql`DROP FUNCTION IF EXISTS refuse_audit()`.execute(db);
      }
    }
  });
});
