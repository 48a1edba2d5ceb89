import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp } from '../src/directory/apps.js';
import { createSession, listTokens } from '../src/directory/credentials.js';
import { checkPassword } from '../src/directory/users.js';
import { makeTestCertificate } from '../src/m365/test-certificate.js';
import type { Services } from '../src/services.js';
import { runCommand } from './support/cli.js';
import { getDirectoryPhoto } from '../src/directory/photo.js';
import { findUserByUpn } from '../src/directory/users.js';
import { getMailPhoto } from '../src/mail/photo-store.js';
import { getRendition, getSiteProfile } from '../src/sites/profiles.js';
import { listAttempts } from '../src/sync/history.js';
import { giveMailPhoto, makeUser, PASSWORD, solidJpeg, tokenFor } from './support/factories.js';
import { createTestStore, describeEachDialect, openTestServices, type TestStore } from './support/services.js';

// A change made on the command line and its entry in the audit log are one commit: when the entry
// cannot be written, the change is not made either (and the command says it failed). The database
// is made to refuse every new audit entry, as a full disk or a crash between two commits would
// leave a change nobody recorded.

describeEachDialect('command-line changes commit with their audit entry', (dialect) => {
  let store: TestStore;
  let work: string;
  beforeAll(async () => {
    store = await createTestStore(dialect);
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-cli-audit-commit-'));
  });
  afterAll(async () => {
    await store?.drop();
    await fs.rm(work, { recursive: true, force: true });
  });

  async function refuseAuditEntries(services: Services) {
    const { db } = services.database;
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
  }

  async function allowAuditEntries(services: Services) {
    const { db } = services.database;
    if (dialect === 'sqlite') {
      await sql`DROP TRIGGER IF EXISTS refuse_audit`.execute(db);
    } else {
      await sql`DROP TRIGGER IF EXISTS refuse_audit ON admin_audit`.execute(db);
      await sql`DROP FUNCTION IF EXISTS refuse_audit()`.execute(db);
    }
  }

  it('token create and revoke, apps add, remove-certificate and remove, users password and revoke-sessions change nothing', async () => {
    const services = await openTestServices(store);
    try {
      const user = await makeUser(services);
      await tokenFor(services, user);
      const [tokenId] = (await listTokens(services.database.db, user.id)).map((t) => t.id);
      await createSession(services.database.db, user.id, 3600_000);
      const app = await createApp(services.database.db, 'Kiosk', ['User.Read'], {
        certificates: [makeTestCertificate().certificate],
      });
      const [certificate] = app.certificates;
      await refuseAuditEntries(services);
      const appsBefore = await services.database.db.selectFrom('directory_apps').select('client_id').execute();

      const fails = async (args: string[], stdin?: string) => {
        const result = await runCommand(args, store.env, work, stdin);
        expect(result.code, `${args.join(' ')}: ${result.stdout}`).not.toBe(0);
        expect(result.stderr, args.join(' ')).toContain('audit refused');
      };
      await fails(['token', 'create', user.upn]);
      await fails(['token', 'revoke', tokenId!]);
      await fails(['apps', 'add', 'Badge printer', '--scopes', 'User.Read']);
      await fails(['apps', 'remove-certificate', app.clientId, certificate!.thumbprintSha256]);
      await fails(['apps', 'remove', app.clientId]);
      await fails(['users', 'password', user.upn], 'a brand new password 123\n');
      await fails(['users', 'revoke-sessions', user.upn]);

      expect((await listTokens(services.database.db, user.id)).map((t) => t.id)).toEqual([tokenId]);
      const appsAfter = await services.database.db.selectFrom('directory_apps').select('client_id').execute();
      expect(appsAfter).toEqual(appsBefore);
      const certificates = await services.database.db
        .selectFrom('directory_app_certificates')
        .select('thumbprint_sha256')
        .where('client_id', '=', app.clientId)
        .execute();
      expect(certificates).toEqual([{ thumbprint_sha256: certificate!.thumbprintSha256 }]);
      expect((await checkPassword(services.database.db, user.upn, PASSWORD)).user?.upn).toBe(user.upn);
      const sessions = await services.database.db
        .selectFrom('directory_sessions')
        .select('user_id')
        .where('user_id', '=', user.id)
        .execute();
      expect(sessions).toHaveLength(1);
    } finally {
      await allowAuditEntries(services);
      await services.close();
    }
  });

  it('users add and import, photo set and remove, directory-photo set, site-photo set, sync and signing-key rotate change nothing', async () => {
    const services = await openTestServices(store);
    try {
      const { db } = services.database;
      const user = await makeUser(services);
      const photo = await giveMailPhoto(services, user, await solidJpeg([20, 120, 220], 200));
      const other = await makeUser(services);
      const image = path.join(work, 'new.jpg');
      await fs.writeFile(image, await solidJpeg([220, 60, 20], 200));
      const sheet = path.join(work, 'people.csv');
      await fs.writeFile(sheet, 'upn,displayName\nsheet1@contoso.com,Sheet One\nsheet2@contoso.com,Sheet Two\n');
      const keysBefore = await db.selectFrom('directory_signing_keys').select(['kid', 'retired_at']).execute();
      await refuseAuditEntries(services);

      const fails = async (...args: string[]) => {
        const result = await runCommand(args, store.env, work);
        expect(result.code, `${args.join(' ')}: ${result.stdout}`).not.toBe(0);
        expect(result.stderr, args.join(' ')).toContain('audit refused');
      };
      await fails('users', 'add', 'newcomer@contoso.com', '--name', 'New Comer');
      await fails('users', 'import', sheet);
      await fails('sync', user.upn);
      await fails('photo', 'set', user.upn, image);
      await fails('photo', 'remove', user.upn);
      await fails('directory-photo', 'set', other.upn, image);
      await fails('signing-key', 'rotate');
      await fails('site-photo', 'set', other.upn, image);

      expect(await findUserByUpn(db, 'newcomer@contoso.com')).toBeUndefined();
      expect(await findUserByUpn(db, 'sheet1@contoso.com')).toBeUndefined();
      expect(await findUserByUpn(db, 'sheet2@contoso.com')).toBeUndefined();
      // The sync was refused with its entry: the sites still show the placeholder, and no attempt was recorded.
      expect(await getSiteProfile(db, user.id)).toMatchObject({ placeholderState: 1, syncedEtag: null });
      expect(await getRendition(db, user.id, 'M')).toBeUndefined();
      expect(await listAttempts(db, user.id)).toEqual([]);
      const mail = await getMailPhoto(db, user.id);
      expect(mail?.etag).toBe(photo.etag);
      expect(await services.blobs.get(mail!.blobKey)).toBeDefined();
      expect(await getDirectoryPhoto(db, other.id)).toBeUndefined();
      expect(await db.selectFrom('directory_signing_keys').select(['kid', 'retired_at']).execute()).toEqual(keysBefore);
      // Only the photo that stayed is left in the store, with the sites' renditions kept with it:
      // the refused upload's files went with it.
      const keys: string[] = [];
      for await (const batch of services.blobs.listKeys()) {
        keys.push(...batch.filter((k) => k.includes(user.id) || k.includes(other.id)));
      }
      const kept = await db
        .selectFrom('mail_photo_renditions')
        .select('blob_key')
        .where('user_id', '=', user.id)
        .execute();
      expect(kept).toHaveLength(3);
      expect(keys.sort()).toEqual([mail!.blobKey, ...kept.map((row) => row.blob_key)].sort());
      expect(await getRendition(db, other.id, 'M')).toBeUndefined();
    } finally {
      await allowAuditEntries(services);
      await services.close();
    }
  });
});
