import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createApp } from '../src/directory/apps.js';
import { createSession } from '../src/directory/credentials.js';
import { createAuthorizationCode } from '../src/directory/sign-in-grants.js';
import { currentSigningKey } from '../src/directory/signing-keys.js';
import { makeTestCertificate } from '../src/m365/test-certificate.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import type { AuditEntry } from '../src/admin/audit.js';
import type { DirectoryUser } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import { runCommand } from './support/cli.js';
import { makeUser, tokenFor } from './support/factories.js';
import { FormClient } from './support/form-client.js';
import { createTestStore, describeEachDialect, openTestServices, type TestStore } from './support/services.js';

// Commands run on the server change what the console's actions change: they are in the same audit
// log, by the command line rather than an administrator.

/** The newest `limit` entries of the console's audit log, oldest first, and the answer's text. */
async function auditLog(server: App, services: Services, admin: DirectoryUser, limit: number) {
  const response = await server.inject({
    url: `/admin/api/audit?limit=${limit}`,
    headers: { authorization: `Bearer ${await tokenFor(services, admin)}` },
  });
  expect(response.statusCode).toBe(200);
  return { body: response.body, entries: response.json<{ entries: AuditEntry[] }>().entries.reverse() };
}

describeEachDialect('the audit log of commands run on the server', (dialect) => {
  let store: TestStore;
  let work: string;
  beforeAll(async () => {
    store = await createTestStore(dialect);
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-cli-audit-'));
  });
  afterAll(async () => {
    await store?.drop();
    await fs.rm(work, { recursive: true, force: true });
  });
  const cli = async (...args: string[]) => {
    const result = await runCommand(args, store.env, work);
    expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    return result;
  };

  it('records users disable, enable, grant-admin, revoke-admin, remove, import and apps add by the command line', async () => {
    let services: Services = await openTestServices(store);
    const admin = await makeUser(services, { isAdmin: true, displayName: 'Ada Admin' });
    const jane = await makeUser(services, { displayName: 'Jane Doe' });
    await services.close();

    await cli('users', 'disable', jane.upn);
    await cli('users', 'enable', jane.upn);
    await cli('users', 'grant-admin', jane.upn);
    await cli('users', 'revoke-admin', jane.upn);
    // Already enabled: nothing changed, nothing recorded.
    await cli('users', 'enable', jane.upn);
    await fs.writeFile(
      path.join(work, 'people.csv'),
      'upn,displayName,password,mailbox,admin\nmari@contoso.com,Mari Maasikas,,yes,yes\nbad,Nobody,,,\n',
    );
    expect((await runCommand(['users', 'import', path.join(work, 'people.csv')], store.env, work)).code).toBe(1);
    const app = await cli('apps', 'add', 'HR sync', '--scopes', 'ProfilePhoto.Read.All');
    const clientId = /client id: +(\S+)/.exec(app.stdout)![1]!;
    await cli('users', 'remove', jane.upn);

    services = await openTestServices(store);
    let server: App | undefined;
    try {
      server = await buildApp(services);
      const { entries } = await auditLog(server, services, admin, 20);
      expect(entries.map((e) => e.action)).toEqual([
        'user_disabled',
        'user_enabled',
        'admin_granted',
        'admin_revoked',
        'users_imported',
        'app_added',
        'user_removed',
      ]);
      for (const entry of entries) {
        expect(entry).toMatchObject({ byCommandLine: true, actorUpn: 'command line' });
      }
      expect(entries[0]?.detail).toMatchObject({ upn: jane.upn });
      expect(entries[4]?.detail).toEqual({ file: 'people.csv', imported: 1, skipped: 1, admins: ['mari@contoso.com'] });
      expect(entries[5]?.detail).toMatchObject({ name: 'HR sync', clientId, scopes: ['ProfilePhoto.Read.All'] });
      expect(entries[6]?.detail).toMatchObject({ upn: jane.upn });

      // The console's audit page says who in words, in the visitor's language.
      const browser = new FormClient(server);
      await browser.signIn(admin.upn, 'correct horse battery');
      for (const [language, who, sentences] of [
        [
          'en',
          'Command line on the server',
          [
            `Disabled ${jane.upn}, ending their sessions and tokens.`,
            `Made ${jane.upn} an administrator.`,
            'Imported users from people.csv (users added: 1; rows skipped: 1).',
            'Administrators among them: mari@contoso.com.',
            `Registered the app HR sync (client id ${clientId}) with ProfilePhoto.Read.All.`,
            `Removed ${jane.upn} with their photos, sessions and tokens.`,
          ],
        ],
        [
          'et',
          'Serveri käsurida',
          [
            `Keelas kasutaja ${jane.upn} konto, lõpetas tema seansid ja tühistas tema juurdepääsuload.`,
            `Tegi kasutaja ${jane.upn} halduriks.`,
            'Importis kasutajad failist people.csv (lisatud kasutajaid: 1; vahele jäetud ridu: 1).',
            'Haldurid nende seas: mari@contoso.com.',
            `Registreeris rakenduse HR sync (kliendi ID ${clientId}) õigustega ProfilePhoto.Read.All.`,
            `Eemaldas kasutaja ${jane.upn} koos tema fotode, seansside ja juurdepääsulubadega.`,
          ],
        ],
      ] as const) {
        browser.language = language;
        const page = await browser.request('GET', '/admin/audit');
        expect(page.statusCode).toBe(200);
        const rows = [...page.body.matchAll(/<tr data-action="(\w+)"[^>]*>(.*?)<\/tr>/gs)];
        expect(rows.map((r) => r[1]).slice(0, 7), language).toEqual(entries.map((e) => e.action).reverse());
        for (const row of rows.slice(0, 7))
          expect(row[2], language).toMatch(new RegExp(`<td data-label="[^"]+" role="cell">${who}</td>`));
        for (const sentence of sentences) expect(page.body, language).toContain(sentence);
      }
    } finally {
      await server?.close();
      await services.close();
    }
  });

  it('records users add, users password, apps remove, photo set and remove and sync by the command line, with no password', async () => {
    let services: Services = await openTestServices(store);
    const admin = await makeUser(services, { isAdmin: true, displayName: 'Ada Admin' });
    await services.close();
    const secret = 'a secret password 123';
    const photo = path.join(work, 'face.jpg');
    await fs.writeFile(
      photo,
      await sharp({ create: { width: 120, height: 120, channels: 3, background: '#336699' } })
        .jpeg()
        .toBuffer(),
    );

    await cli('users', 'add', 'kati@contoso.com', '--name', 'Kati Karu', '--password', secret);
    await cli('users', 'add', 'boss@contoso.com', '--name', 'Big Boss', '--admin');
    expect((await runCommand(['users', 'password', 'kati@contoso.com'], store.env, work, `${secret}!\n`)).code).toBe(0);
    const app = await cli('apps', 'add', 'Old app', '--scopes', 'ProfilePhoto.Read.All');
    const clientId = /client id: +(\S+)/.exec(app.stdout)![1]!;
    await cli('apps', 'remove', clientId);
    await cli('photo', 'set', 'kati@contoso.com', photo);
    await cli('photo', 'remove', 'kati@contoso.com');
    // No photo left: nothing changed, nothing recorded.
    await cli('photo', 'remove', 'kati@contoso.com');
    await cli('sync', 'kati@contoso.com');

    services = await openTestServices(store);
    let server: App | undefined;
    try {
      server = await buildApp(services);
      const { body, entries } = await auditLog(server, services, admin, 8);
      expect(body).not.toContain(secret);
      expect(entries.map((e) => e.action)).toEqual([
        'user_added',
        'user_added',
        'password_set',
        'app_added',
        'app_removed',
        'photo_set',
        'photo_removed',
        'operator_sync',
      ]);
      for (const entry of entries) {
        expect(entry).toMatchObject({ byCommandLine: true, actorUpn: 'command line' });
      }
      expect(entries[0]?.detail).toMatchObject({ upn: 'kati@contoso.com', displayName: 'Kati Karu', admin: false });
      expect(entries[1]?.detail).toMatchObject({ upn: 'boss@contoso.com', admin: true });
      expect(entries[2]?.detail).toMatchObject({ upn: 'kati@contoso.com' });
      expect(entries[4]?.detail).toMatchObject({ name: 'Old app', clientId });
      expect(entries[5]?.detail).toMatchObject({ upn: 'kati@contoso.com' });
      expect(entries[6]?.detail).toMatchObject({ upn: 'kati@contoso.com' });
      expect(entries[7]?.detail).toMatchObject({ results: [{ upn: 'kati@contoso.com' }] });

      const browser = new FormClient(server);
      await browser.signIn(admin.upn, 'correct horse battery');
      for (const [language, sentences] of [
        [
          'en',
          [
            'Added the user kati@contoso.com (Kati Karu).',
            'Added the user boss@contoso.com (Big Boss) as an administrator.',
            'Set a new password for kati@contoso.com, ending their sessions and tokens.',
            `Removed the app Old app (client id ${clientId}), ending its tokens.`,
            'Set the mail photo of kati@contoso.com.',
            'Removed the mail photo of kati@contoso.com.',
            'Ran the sync for: kati@contoso.com',
          ],
        ],
        [
          'et',
          [
            'Lisas kasutaja kati@contoso.com (Kati Karu).',
            'Lisas kasutaja boss@contoso.com (Big Boss) ja tegi ta halduriks.',
            'Määras kasutajale kati@contoso.com uue parooli, lõpetas tema seansid ja tühistas tema juurdepääsuload.',
            `Eemaldas rakenduse Old app (kliendi ID ${clientId}) ja tühistas selle juurdepääsuload.`,
            'Määras kasutajale kati@contoso.com postkasti foto.',
            'Eemaldas kasutaja kati@contoso.com postkasti foto.',
            'Käivitas sünkroonimise: kati@contoso.com',
          ],
        ],
      ] as const) {
        browser.language = language;
        const page = await browser.request('GET', '/admin/audit');
        expect(page.statusCode).toBe(200);
        expect(page.body).not.toContain(secret);
        const rows = [...page.body.matchAll(/<tr data-action="(\w+)"[^>]*>(.*?)<\/tr>/gs)];
        expect(rows.map((r) => r[1]).slice(0, 8), language).toEqual(entries.map((e) => e.action).reverse());
        for (const sentence of sentences) expect(page.body, language).toContain(sentence);
      }
    } finally {
      await server?.close();
      await services.close();
    }
  });

  it('records directory-photo set when the directory photo changed and site-photo set, by the command line', async () => {
    let services: Services = await openTestServices(store);
    const admin = await makeUser(services, { isAdmin: true, displayName: 'Ada Admin' });
    const mari = await makeUser(services, { displayName: 'Mari Maasikas' });
    await services.close();
    const picture = async (name: string, background: string) => {
      const file = path.join(work, name);
      await fs.writeFile(
        file,
        await sharp({ create: { width: 120, height: 120, channels: 3, background } })
          .jpeg()
          .toBuffer(),
      );
      return file;
    };
    const blue = await picture('blue.jpg', '#336699');
    const red = await picture('red.jpg', '#993333');

    await cli('directory-photo', 'set', mari.upn, blue);
    // The same picture again: the directory photo is as it was, nothing recorded.
    await cli('directory-photo', 'set', mari.upn, blue);
    await cli('directory-photo', 'set', mari.upn, red);
    await cli('site-photo', 'set', mari.upn, blue);
    // Refused: nothing changed, nothing recorded.
    await fs.writeFile(path.join(work, 'broken.jpg'), 'not a picture');
    expect(
      (await runCommand(['site-photo', 'set', mari.upn, path.join(work, 'broken.jpg')], store.env, work)).code,
    ).not.toBe(0);

    services = await openTestServices(store);
    let server: App | undefined;
    try {
      server = await buildApp(services);
      // Hers only: the entries of the tests before are in the same log.
      const entries = (await auditLog(server, services, admin, 20)).entries.filter((e) => e.detail.upn === mari.upn);
      expect(entries.map((e) => e.action)).toEqual(['directory_photo_set', 'directory_photo_set', 'site_photo_set']);
      for (const entry of entries) {
        expect(entry).toMatchObject({ byCommandLine: true, actorUpn: 'command line', detail: { upn: mari.upn } });
      }

      const browser = new FormClient(server);
      await browser.signIn(admin.upn, 'correct horse battery');
      for (const [language, sentences] of [
        ['en', [`Set the directory photo of ${mari.upn}.`, `Uploaded a picture of ${mari.upn} in the sites.`]],
        ['et', [`Määras kasutajale ${mari.upn} kataloogifoto.`, `Laadis kasutaja ${mari.upn} pildi saitidele üles.`]],
      ] as const) {
        browser.language = language;
        const page = await browser.request('GET', '/admin/audit');
        expect(page.statusCode).toBe(200);
        const rows = [...page.body.matchAll(/<tr data-action="(\w+)"[^>]*>(.*?)<\/tr>/gs)];
        expect(rows.map((r) => r[1]).slice(0, 3), language).toEqual([
          'site_photo_set',
          'directory_photo_set',
          'directory_photo_set',
        ]);
        for (const sentence of sentences) expect(page.body, language).toContain(sentence);
      }
    } finally {
      await server?.close();
      await services.close();
    }
  });

  it('records token create and revoke, apps remove-certificate, users revoke-sessions and signing-key rotate, with no secret', async () => {
    let services: Services = await openTestServices(store);
    const admin = await makeUser(services, { isAdmin: true, displayName: 'Ada Admin' });
    const mari = await makeUser(services, { displayName: 'Mari Maasikas' });
    const sessionIds = [
      await createSession(services.database.db, mari.id, 3600_000),
      await createSession(services.database.db, mari.id, 3600_000),
    ];
    const oldKid = (await currentSigningKey(services.database.db)).kid;
    await services.close();
    const certificateFile = path.join(work, 'badge.crt');
    await fs.writeFile(certificateFile, makeTestCertificate().certificate);
    const app = await cli(
      'apps',
      'add',
      'Badge printer',
      '--scopes',
      'ProfilePhoto.Read.All',
      '--certificate',
      certificateFile,
    );
    const clientId = /client id: +(\S+)/.exec(app.stdout)![1]!;
    const appSecret = /client secret: +(\S+)/.exec(app.stdout)?.[1];
    const thumbprint = /x5t#S256 (\S+)/.exec(app.stdout)![1]!;

    const made = await cli(
      'token',
      'create',
      mari.upn,
      '--scopes',
      'User.Read ProfilePhoto.Read.All',
      '--expires',
      '30d',
    );
    const token = made.stdout.trim().split('\n').at(-1)!;
    expect(token).toMatch(/^pst_/);
    const listed = await cli('token', 'list', mari.upn);
    const tokenId = /^([0-9a-f]{12}) /m.exec(listed.stdout)![1]!;
    // Revoked by the token itself: the entry names its id all the same.
    await cli('token', 'revoke', token);
    // No such token: nothing changed, nothing recorded.
    expect((await runCommand(['token', 'revoke', tokenId], store.env, work)).code).not.toBe(0);
    // Named by its hex digest; the entry has it as apps add printed it.
    await cli('apps', 'remove-certificate', clientId, Buffer.from(thumbprint, 'base64url').toString('hex'));
    await cli('users', 'revoke-sessions', mari.upn);
    // Nothing left to end: nothing recorded.
    await cli('users', 'revoke-sessions', mari.upn);
    const rotated = await cli('signing-key', 'rotate');
    const newKid = /signed with key (\S+);/.exec(rotated.stdout)![1]!;
    expect(newKid).not.toBe(oldKid);

    services = await openTestServices(store);
    let server: App | undefined;
    try {
      const privateKeys = (
        await services.database.db.selectFrom('directory_signing_keys').select('private_key').execute()
      ).map((r) => r.private_key);
      const secrets = [token, ...sessionIds, ...privateKeys, ...(appSecret ? [appSecret] : []), 'PRIVATE KEY'];
      server = await buildApp(services);
      const { body, entries } = await auditLog(server, services, admin, 5);
      for (const secret of secrets) expect(body).not.toContain(secret);
      expect(entries.map((e) => e.action)).toEqual([
        'token_created',
        'token_revoked',
        'app_certificate_removed',
        'sessions_revoked',
        'signing_key_rotated',
      ]);
      for (const entry of entries) {
        expect(entry).toMatchObject({ byCommandLine: true, actorUpn: 'command line' });
      }
      const expiresAt = entries[0]?.detail.expiresAt as number;
      expect(entries[0]?.detail).toEqual({
        id: tokenId,
        upn: mari.upn,
        scopes: ['User.Read', 'ProfilePhoto.Read.All'],
        expiresAt,
      });
      expect(Math.abs(expiresAt - (Date.now() + 30 * 24 * 3600_000))).toBeLessThan(5 * 60_000);
      expect(entries[1]?.detail).toEqual({ id: tokenId, upn: mari.upn });
      expect(entries[2]?.detail).toEqual({ name: 'Badge printer', clientId, thumbprint });
      expect(entries[3]?.detail).toEqual({ upn: mari.upn, refreshTokens: 0, codes: 0, sessions: 2 });
      expect(entries[4]?.detail).toEqual({ kid: newKid, retired: [oldKid] });

      const browser = new FormClient(server);
      await browser.signIn(admin.upn, 'correct horse battery');
      for (const [language, sentences] of [
        [
          'en',
          [
            new RegExp(
              `Created a bearer token \\(id ${tokenId}\\) for ${mari.upn} with User\\.Read, ProfilePhoto\\.Read\\.All, valid until \\d{1,2} \\w{3} \\d{4}, \\d\\d:\\d\\d UTC\\.`,
            ),
            `Revoked the bearer token ${tokenId} of ${mari.upn}.`,
            `Removed the certificate with thumbprint ${thumbprint} from the app Badge printer (client id ${clientId}).`,
            `Ended the sign-ins of ${mari.upn} (refresh tokens: 0; unused sign-in codes: 0; portal sessions: 2).`,
            `Rotated the token signing key to ${newKid}; the old key ${oldKid} stayed published for a day.`,
          ],
        ],
        [
          'et',
          [
            new RegExp(
              `Lõi kasutajale ${mari.upn} kuni \\d{1,2}\\.\\d\\d\\.\\d{4} kell \\d\\d\\.\\d\\d UTC kehtiva juurdepääsuloa \\(ID ${tokenId}\\) õigustega User\\.Read, ProfilePhoto\\.Read\\.All\\.`,
            ),
            `Tühistas kasutaja ${mari.upn} juurdepääsuloa (ID ${tokenId}).`,
            `Eemaldas sertifikaadi sõrmejäljega ${thumbprint} rakenduselt Badge printer (kliendi ID ${clientId}).`,
            `Logis kasutaja ${mari.upn} välja (tühistatud värskenduslube: 0; tühistatud kasutamata sisselogimiskoode: 0; lõpetatud portaaliseansse: 2).`,
            `Vahetas lubade allkirjastamisvõtme uue vastu (${newKid}). Vana võti ${oldKid} jäi veel päevaks avaldatuks.`,
          ],
        ],
      ] as const) {
        browser.language = language;
        const page = await browser.request('GET', '/admin/audit');
        expect(page.statusCode).toBe(200);
        for (const secret of secrets) expect(page.body).not.toContain(secret);
        const rows = [...page.body.matchAll(/<tr data-action="(\w+)"[^>]*>(.*?)<\/tr>/gs)];
        expect(rows.map((r) => r[1]).slice(0, 5), language).toEqual(entries.map((e) => e.action).reverse());
        for (const sentence of sentences) {
          if (typeof sentence === 'string') expect(page.body, language).toContain(sentence);
          else expect(page.body, language).toMatch(sentence);
        }
      }
    } finally {
      await server?.close();
      await services.close();
    }
  });

  it('users revoke-sessions ends an unused sign-in code too, says so and records it, in one commit with the rest', async () => {
    let services: Services = await openTestServices(store);
    const kalle = await makeUser(services, { displayName: 'Kalle Kask' });
    const app = await createApp(services.database.db, 'Kiosk', ['User.Read'], {
      redirectUris: ['https://kiosk.contoso.com/callback'],
    });
    await createAuthorizationCode(services.database.db, {
      clientId: app.clientId,
      userId: kalle.id,
      redirectUri: 'https://kiosk.contoso.com/callback',
      scope: 'openid User.Read',
      codeChallenge: null,
      nonce: null,
    });
    await services.close();

    const revoked = await cli('users', 'revoke-sessions', kalle.upn);
    expect(revoked.stdout).toContain(
      `Ended 0 refresh token(s), 1 unused sign-in code(s) and 0 portal session(s) of ${kalle.upn}.`,
    );
    services = await openTestServices(store);
    try {
      const codes = await services.database.db
        .selectFrom('directory_authorization_codes')
        .select('code_hash')
        .where('user_id', '=', kalle.id)
        .execute();
      expect(codes).toEqual([]);
      const entries = await services.database.db
        .selectFrom('admin_audit')
        .select(['action', 'detail'])
        .where('action', '=', 'sessions_revoked')
        .execute();
      const details = entries.map((e) => JSON.parse(e.detail) as Record<string, unknown>);
      expect(details.filter((d) => d.upn === kalle.upn)).toEqual([
        { upn: kalle.upn, refreshTokens: 0, codes: 1, sessions: 0 },
      ]);
    } finally {
      await services.close();
    }
  });
});
