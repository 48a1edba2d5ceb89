import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import { beforeAll, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { createToken } from '../src/directory/credentials.js';
import { createApp } from '../src/directory/apps.js';
import { tenantId } from '../src/directory/settings.js';
import {
  findUserByUpn,
  keepingAnAdministrator,
  LastAdministratorError,
  setUserAdmin,
  type DirectoryUser,
} from '../src/directory/users.js';
import { setUserEnabled } from '../src/directory/revocation.js';
import type { Services } from '../src/services.js';
import { LIBRARY_PATH, renditionFileName } from '../src/sites/library.js';
import { fileStemOf, getRendition } from '../src/sites/profiles.js';
import { bearer } from './support/apps.js';
import { runCommand } from './support/cli.js';
import { closeTo, giveMailPhoto, makeUser, meanColour, solidJpeg } from './support/factories.js';
import { FormClient } from './support/form-client.js';
import { createTestStore, describeEachDialect, openTestServices, useTestApp } from './support/services.js';

// Revocation from the command line: opaque tokens expire and can be listed and revoked; a new
// password or a disabled account ends every session and token the user held; a disabled user
// cannot sign in and others see the placeholder instead of their pictures; a removed user is gone
// with their pictures. The password grant gives only what the app was registered with.

const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a new long password';
const GREEN: [number, number, number] = [40, 200, 60];
const DAY_MS = 24 * 60 * 60_000;

describeEachDialect('revocation', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  let tenant: string;
  let env: Record<string, string>;
  let registered: Awaited<ReturnType<typeof createApp>>;
  beforeAll(async () => {
    ({ services, app } = context);
    env = context.store.env;
    tenant = await tenantId(services.database.db);
    registered = await createApp(services.database.db, 'Script', ['User.Read', 'ProfilePhoto.Read.All'], {
      publicClient: true,
    });
  });

  const me = (token: string) => app.inject({ url: '/v1.0/me', headers: bearer(token) });
  const grant = (form: Record<string, string>) =>
    app.inject({
      method: 'POST',
      url: `/${tenant}/oauth2/v2.0/token`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ client_id: registered.clientId, ...form }).toString(),
    });
  const passwordGrant = (user: DirectoryUser, password: string, scope = 'User.Read offline_access') =>
    grant({ grant_type: 'password', username: user.upn, password, scope });
  const tokenRow = (token: string) =>
    services.database.db
      .selectFrom('directory_tokens')
      .select(['expires_at'])
      .where('token_hash', '=', createHash('sha256').update(token).digest('hex'))
      .executeTakeFirst();

  /** Everything a signed-in user may hold: a portal session, an opaque token, an access and a refresh token. */
  async function holdings(user: DirectoryUser) {
    const browser = new FormClient(app);
    expect((await browser.signIn(user.upn, PASSWORD)).statusCode).toBe(303);
    const opaque = await createToken(services.database.db, user.id, 'test');
    const granted = await passwordGrant(user, PASSWORD);
    expect(granted.statusCode, granted.body).toBe(200);
    const { access_token: accessToken, refresh_token: refreshToken } = granted.json();
    const check = async () => ({
      session: (await browser.request('GET', '/')).statusCode,
      opaque: (await me(opaque)).statusCode,
      access: (await me(accessToken)).statusCode,
      refresh: (await grant({ grant_type: 'refresh_token', refresh_token: refreshToken, scope: 'User.Read' }))
        .statusCode,
    });
    return { browser, check };
  }

  it('token create: 90 days unless --expires says; token list shows ids, never tokens; token revoke ends one', async () => {
    const user = await makeUser(services);
    const created = await runCommand(['token', 'create', user.upn], env);
    expect(created.code, created.stderr).toBe(0);
    const token = created.stdout.trim().split('\n').pop()!;
    expect(created.stdout).toContain('valid until');
    expect((await tokenRow(token))!.expires_at! - Date.now()).toBeGreaterThan(90 * DAY_MS - 60_000);
    expect((await tokenRow(token))!.expires_at! - Date.now()).toBeLessThanOrEqual(90 * DAY_MS);

    const short = await runCommand(['token', 'create', user.upn, '--expires', '30d', '--scopes', 'User.Read'], env);
    const shortToken = short.stdout.trim().split('\n').pop()!;
    expect((await tokenRow(shortToken))!.expires_at! - Date.now()).toBeLessThanOrEqual(30 * DAY_MS);
    expect((await tokenRow(shortToken))!.expires_at! - Date.now()).toBeGreaterThan(30 * DAY_MS - 60_000);

    for (const bad of ['30', '0d', 'forever', '9999d']) {
      const refused = await runCommand(['token', 'create', user.upn, '--expires', bad], env);
      expect([refused.code, refused.stdout], bad).toEqual([2, '']);
      expect(refused.stderr).toContain('--expires takes a number of days or hours');
    }
    await createToken(services.database.db, user.id, 'old script', -1);

    const listed = await runCommand(['token', 'list', user.upn], env);
    expect(listed.code, listed.stderr).toBe(0);
    const id = createHash('sha256').update(token).digest('hex').slice(0, 12);
    expect(listed.stdout).toContain(id);
    expect(listed.stdout).toContain('old script');
    expect(listed.stdout).toContain('(expired)');
    expect(listed.stdout).not.toContain(token);
    expect(listed.stdout.split('\n').filter((l) => l.includes(user.upn))).toHaveLength(3);

    expect((await me(token)).statusCode).toBe(200);
    const revoked = await runCommand(['token', 'revoke', id], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect((await me(token)).statusCode).toBe(401);
    expect((await me(shortToken)).statusCode).toBe(200);
    const again = await runCommand(['token', 'revoke', id], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`No token has the id ${id}`);
    expect((await runCommand(['token', 'revoke', 'abc'], env)).code).toBe(1);
  });

  it('token create refuses a disabled user, whose token every request would refuse', async () => {
    const user = await makeUser(services);
    await setUserEnabled(services.database.db, user, false);
    const refused = await runCommand(['token', 'create', user.upn], env);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain(`${user.upn} is disabled`);
    expect(refused.stderr).toContain(`photosync users enable ${user.upn}`);
    expect((await runCommand(['token', 'list', user.upn], env)).stdout).toContain('No tokens');
  });

  it('users password (from standard input) ends every session and token; only the new password signs in', async () => {
    const user = await makeUser(services, { password: PASSWORD });
    const { check } = await holdings(user);
    expect(await check()).toEqual({ session: 200, opaque: 200, access: 200, refresh: 200 });

    expect((await runCommand(['users', 'password', user.upn], env)).code).toBe(2);
    const short = await runCommand(['users', 'password', user.upn], env, undefined, 'short\n');
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('at least');
    expect(await check()).toMatchObject({ session: 200, opaque: 200, access: 200 });

    const changed = await runCommand(['users', 'password', user.upn], env, undefined, `${NEW_PASSWORD}\n`);
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toMatch(
      /Ended 1 portal session\(s\), 1 token\(s\), \d refresh token\(s\) and \d unused sign-in code\(s\)/,
    );
    expect(await check()).toEqual({ session: 303, opaque: 401, access: 401, refresh: 400 });

    expect((await new FormClient(app).signIn(user.upn, PASSWORD)).statusCode).toBe(401);
    expect((await passwordGrant(user, PASSWORD)).json().error_codes).toEqual([50126]);
    expect((await new FormClient(app).signIn(user.upn, NEW_PASSWORD)).statusCode).toBe(303);
    // A token issued right after the change (in the same second, even) works.
    const fresh = await passwordGrant(user, NEW_PASSWORD);
    expect(fresh.statusCode).toBe(200);
    expect((await me(fresh.json().access_token)).statusCode).toBe(200);
  });

  it('users disable: no sign-in, everything ended, others see the placeholder; users enable undoes it', async () => {
    const jane = await makeUser(services, { password: PASSWORD });
    const viewer = await makeUser(services);
    const viewerToken = await createToken(services.database.db, viewer.id, 'test');
    await giveMailPhoto(services, jane, await solidJpeg(GREEN));
    await services.sync.sync(jane, 'admin');
    const file = `${LIBRARY_PATH}/${renditionFileName(await fileStemOf(services.database.db, jane), 'M')}`;
    const pictures = async () => {
      const aspx = await app.inject({
        url: `/_layouts/15/userphoto.aspx?size=M&accountname=${jane.upn}`,
        headers: bearer(viewerToken),
      });
      expect(aspx.statusCode).toBe(200);
      const graph = await app.inject({ url: `/v1.0/users/${jane.upn}/photo/$value`, headers: bearer(viewerToken) });
      const list = await app.inject({ url: `/v1.0/users/${jane.upn}/photos`, headers: bearer(viewerToken) });
      const library = await app.inject({ url: encodeURI(file), headers: bearer(viewerToken) });
      return {
        aspxShowsPhoto: closeTo(await meanColour(aspx.rawPayload), GREEN),
        graph: graph.statusCode,
        sizes: (list.json().value as unknown[]).length,
        library: library.statusCode,
      };
    };
    expect(await pictures()).toEqual({ aspxShowsPhoto: true, graph: 200, sizes: expect.any(Number), library: 200 });
    const { check } = await holdings(jane);

    const disabled = await runCommand(['users', 'disable', jane.upn], env);
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(await check()).toEqual({ session: 303, opaque: 401, access: 401, refresh: 400 });
    // The right password is told the account is disabled (a page, and Entra's AADSTS50057).
    expect((await new FormClient(app).signIn(jane.upn, PASSWORD)).statusCode).toBe(403);
    expect((await passwordGrant(jane, PASSWORD)).json().error_codes).toEqual([50057]);
    const graphImageNotFound = await app.inject({
      url: `/v1.0/users/${jane.upn}/photo`,
      headers: bearer(viewerToken),
    });
    expect([graphImageNotFound.statusCode, graphImageNotFound.json().error.code]).toEqual([404, 'ImageNotFound']);
    expect(await pictures()).toEqual({ aspxShowsPhoto: false, graph: 404, sizes: 0, library: 404 });
    expect((await runCommand(['users', 'disable', jane.upn], env)).stdout).toContain('already disabled');

    const enabled = await runCommand(['users', 'enable', jane.upn], env);
    expect(enabled.code, enabled.stderr).toBe(0);
    expect((await new FormClient(app).signIn(jane.upn, PASSWORD)).statusCode).toBe(303);
    expect(await pictures()).toMatchObject({ aspxShowsPhoto: true, graph: 200, library: 200 });
  });

  it('users remove: the user, their pictures and their tokens are gone', async () => {
    const jane = await makeUser(services, { password: PASSWORD });
    const viewer = await makeUser(services);
    const viewerToken = await createToken(services.database.db, viewer.id, 'test');
    const janeToken = await createToken(services.database.db, jane.id, 'test');
    await giveMailPhoto(services, jane, await solidJpeg(GREEN));
    await services.sync.sync(jane, 'admin');
    const rendition = await getRendition(services.database.db, jane.id, 'M');
    expect(await services.blobs.get(rendition!.blobKey)).toBeDefined();

    const removed = await runCommand(['users', 'remove', jane.upn], env);
    expect(removed.code, removed.stderr).toBe(0);
    expect((await me(janeToken)).statusCode).toBe(401);
    expect(await services.blobs.get(rendition!.blobKey)).toBeUndefined();
    const graph = await app.inject({ url: `/v1.0/users/${jane.upn}`, headers: bearer(viewerToken) });
    expect(graph.statusCode).toBe(404);
    const aspx = await app.inject({
      url: `/_layouts/15/userphoto.aspx?size=M&accountname=${jane.upn}`,
      headers: bearer(viewerToken),
    });
    expect(closeTo(await meanColour(aspx.rawPayload), GREEN)).toBe(false);
    expect((await runCommand(['users', 'remove', jane.upn], env)).code).toBe(1);
  });

  it('users disable and users remove keep someone who can sign in to the admin console', async () => {
    const store = await createTestStore(dialect);
    try {
      const own = await openTestServices(store);
      const only = await makeUser(own, { isAdmin: true });
      const user = await makeUser(own);
      await own.close();
      for (const [verb, then] of [
        ['disable', 'disable this one'],
        ['remove', 'remove this one'],
        ['revoke-admin', 'revoke this one'],
      ] as const) {
        const refused = await runCommand(['users', verb, only.upn], store.env);
        expect(refused.code).toBe(1);
        expect(refused.stderr).toContain(`${only.upn} is the only administrator`);
        expect(refused.stderr).toContain(
          `(photosync users grant-admin <upn>, or users add <upn> --admin with a password), then ${then}.`,
        );
      }
      expect((await runCommand(['users', 'remove', user.upn], store.env)).code).toBe(0);
      const added = await runCommand(
        ['users', 'add', 'second.admin@contoso.com', '--name', 'Second Admin', '--admin', '--password', PASSWORD],
        store.env,
      );
      expect(added.code, added.stderr).toBe(0);
      expect((await runCommand(['users', 'disable', only.upn], store.env)).code).toBe(0);
      // A disabled administrator signs nobody in: the one left is the only one.
      const last = await runCommand(['users', 'remove', 'second.admin@contoso.com'], store.env);
      expect(last.stderr).toContain('second.admin@contoso.com is the only administrator');
      expect((await runCommand(['users', 'remove', only.upn], store.env)).code).toBe(0);
    } finally {
      await store.drop();
    }
  });

  it('an administrator without a password does not count as one who can sign in', async () => {
    const store = await createTestStore(dialect);
    try {
      const own = await openTestServices(store);
      const only = await makeUser(own, { isAdmin: true });
      await own.close();
      // Added with --admin but no password: they cannot sign in to the admin console.
      const added = await runCommand(
        ['users', 'add', 'no.password@contoso.com', '--name', 'No Password', '--admin'],
        store.env,
      );
      expect(added.stdout).toContain('cannot sign in');
      for (const verb of ['disable', 'remove', 'revoke-admin'] as const) {
        const refused = await runCommand(['users', verb, only.upn], store.env);
        expect(refused.code, verb).toBe(1);
        expect(refused.stderr, verb).toContain(`${only.upn} is the only administrator who can sign in`);
        expect(refused.stderr, verb).toContain(
          'no.password@contoso.com has no password (photosync users password no.password@contoso.com)',
        );
      }
      const after = await openTestServices(store);
      try {
        expect(await findUserByUpn(after.database.db, only.upn)).toMatchObject({ enabled: true, isAdmin: true });
      } finally {
        await after.close();
      }
      // The one without a password may go: the one who can sign in stays.
      expect((await runCommand(['users', 'revoke-admin', 'no.password@contoso.com'], store.env)).code).toBe(0);
      expect((await runCommand(['users', 'grant-admin', 'no.password@contoso.com'], store.env)).code).toBe(0);
      expect((await runCommand(['users', 'remove', 'no.password@contoso.com'], store.env)).code).toBe(0);
    } finally {
      await store.drop();
    }
  });

  // Two instances in one process: on SQLite the second's BEGIN IMMEDIATE would wait for the first
  // synchronously, holding the event loop the first needs (two processes wait in turn).
  it.runIf(dialect === 'postgres')(
    'two instances taking away the last two administrators at once leave one of them',
    async () => {
      const store = await createTestStore(dialect);
      const one = await openTestServices(store);
      const two = await openTestServices(store);
      try {
        for (let round = 0; round < 5; round++) {
          const [a, b] = [await makeUser(one, { isAdmin: true }), await makeUser(one, { isAdmin: true })];
          // Round by round: both demoted, both disabled, or one of each.
          const take = (services: Services, user: DirectoryUser, how: number) =>
            keepingAnAdministrator(services.database.db, services.database.dialect, user, async (trx) => {
              if (how === 0) await setUserAdmin(trx, user, false);
              else await setUserEnabled(trx, user, false);
            });
          const outcomes = await Promise.allSettled([take(one, a, round % 2), take(two, b, round % 3 === 0 ? 1 : 0)]);
          expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
          const refused = outcomes.find((o) => o.status === 'rejected');
          expect((refused as PromiseRejectedResult).reason).toBeInstanceOf(LastAdministratorError);
          const admins = await one.database.db
            .selectFrom('directory_users')
            .select('id')
            .where('is_admin', '=', 1)
            .where('enabled', '=', 1)
            .execute();
          expect(admins).toHaveLength(1);
          // The one left is demoted by hand for the next round: no administrator between rounds.
          await one.database.db.updateTable('directory_users').set({ is_admin: 0 }).execute();
        }
      } finally {
        await one.close();
        await two.close();
        await store.drop();
      }
    },
  );

  it('users grant-admin and users revoke-admin open and close the admin console for an existing user', async () => {
    await makeUser(services, { isAdmin: true }); // another administrator, so this one's can be taken away
    const user = await makeUser(services, { password: PASSWORD });
    const browser = new FormClient(app);
    expect((await browser.signIn(user.upn, PASSWORD)).statusCode).toBe(303);
    expect((await browser.request('GET', '/admin')).statusCode).toBe(403);

    const granted = await runCommand(['users', 'grant-admin', user.upn], env);
    expect(granted.code, granted.stderr).toBe(0);
    expect(granted.stdout).toContain(`${user.upn} is now an administrator`);
    // The session the user already held opens the console at once.
    expect((await browser.request('GET', '/admin')).statusCode).toBe(200);
    expect((await runCommand(['users', 'grant-admin', user.upn], env)).stdout).toContain(
      'was already an administrator',
    );

    const revoked = await runCommand(['users', 'revoke-admin', user.upn], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`${user.upn} is no longer an administrator`);
    expect((await browser.request('GET', '/admin')).statusCode).toBe(403);
    expect((await runCommand(['users', 'revoke-admin', user.upn], env)).stdout).toContain('was not an administrator');

    const nobody = await runCommand(['users', 'grant-admin', 'nobody@contoso.com'], env);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toContain('There is no user nobody@contoso.com.');
  });

  it('the password grant gives only the scopes the app was registered with', async () => {
    const user = await makeUser(services, { password: PASSWORD });
    const narrow = await createApp(services.database.db, 'Narrow script', ['User.Read'], { publicClient: true });
    const ask = (scope: string) =>
      grant({ client_id: narrow.clientId, grant_type: 'password', username: user.upn, password: PASSWORD, scope });
    const wider = await ask('ProfilePhoto.Read.All');
    expect([wider.statusCode, wider.json().error_codes]).toEqual([400, [65001]]);
    expect(wider.body).not.toContain('access_token');
    for (const scope of ['https://graph.microsoft.com/.default', 'User.Read', 'openid profile']) {
      const granted = await ask(scope);
      expect(granted.statusCode, scope).toBe(200);
      expect(decodeJwt(granted.json().access_token).scp, scope).toBe('User.Read');
    }
  });
});
