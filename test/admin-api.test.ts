import { beforeAll, expect, it } from 'vitest';
import type { DirectoryUser } from '../src/directory/users.js';
import type { App } from '../src/app.js';
import type { Services } from '../src/services.js';
import { setUserEnabled } from '../src/directory/revocation.js';
import { listAttempts } from '../src/sync/history.js';
import { listPrompts } from '../src/admin/prompts.js';
import { isOutOfStep, type SyncStateName } from '../src/sync/state.js';
import { FormClient } from './support/form-client.js';
import { giveMailPhoto, makeUser, solidJpeg, tokenFor } from './support/factories.js';
import { describeEachDialect, useTestApp } from './support/services.js';

const PASSWORD = 'correct horse battery';

describeEachDialect('admin console', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  let admin: DirectoryUser;
  let adminToken: string;
  let plainToken: string;
  let plain: DirectoryUser;
  beforeAll(async () => {
    ({ services, app } = context);
    admin = await makeUser(services, { isAdmin: true });
    plain = await makeUser(services);
    adminToken = await tokenFor(services, admin);
    plainToken = await tokenFor(services, plain);
  });

  const api = (method: 'GET' | 'POST' | 'PATCH', url: string, token: string | undefined, body?: unknown) =>
    app.inject({
      method,
      url,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(body !== undefined ? { payload: body as Record<string, unknown> } : {}),
    });

  /** A user whose mail photo changed after their last sync. */
  const changedUser = async () => {
    const user = await makeUser(services);
    await giveMailPhoto(services, user, await solidJpeg([200, 20, 20], 64));
    await services.sync.sync(user, 'sharepoint_tile');
    await giveMailPhoto(services, user, await solidJpeg([20, 20, 200], 64));
    return user;
  };

  it('refuses everyone but admins, on every API route and every page', async () => {
    const routes: Array<['GET' | 'POST' | 'PATCH', string, unknown?]> = [
      ['GET', '/admin/api/overview'],
      ['GET', '/admin/api/users'],
      ['GET', `/admin/api/users/${plain.upn}`],
      ['POST', '/admin/api/prompts', { upns: [plain.upn] }],
      ['POST', '/admin/api/sync', { upns: [plain.upn] }],
      ['GET', '/admin/api/settings'],
      ['PATCH', '/admin/api/settings', { operatorSync: true }],
      ['GET', '/admin/api/audit'],
    ];
    for (const [method, url, body] of routes) {
      const anonymous = await api(method, url, undefined, body);
      expect(anonymous.statusCode, `${method} ${url}`).toBe(401);
      const refused = await api(method, url, plainToken, body);
      expect(refused.statusCode, `${method} ${url}`).toBe(403);
      expect(refused.json()).toEqual({ error: { code: 'forbidden', message: expect.any(String) } });
    }
    expect((await api('GET', '/admin/api/audit', adminToken)).json().entries).toEqual([]);

    const browser = new FormClient(app, 'et');
    expect((await browser.request('GET', '/admin')).headers.location).toBe('/signin?next=%2Fadmin');
    await browser.signIn(plain.upn, PASSWORD);
    const token = await browser.csrfToken('/');
    // Non-admins learn nothing from a malformed request either: 403 before the query is read.
    expect((await api('GET', '/admin/api/users?state=bogus&limit=x', plainToken)).statusCode).toBe(403);
    for (const url of [
      '/admin',
      '/admin/users',
      `/admin/users/${plain.upn}`,
      '/admin/settings',
      '/admin/audit',
      '/admin/users?state=bogus',
    ]) {
      const page = await browser.request('GET', url);
      expect(page.statusCode, url).toBe(403);
      expect(page.body).toContain('Ainult halduritele');
    }
    for (const url of ['/admin/prompts', '/admin/sync']) {
      const page = await browser.request('POST', url, { _csrf: token, upn: plain.upn });
      expect(page.statusCode, url).toBe(403);
    }
    const settings = await browser.request('POST', '/admin/settings', {
      _csrf: token,
      sizeS: '40',
      sizeM: '80',
      sizeL: '200',
      recheckSeconds: '0',
      errorBackoffSeconds: '1',
      operatorSync: 'on',
      mailFrom: 'x@contoso.com',
    });
    expect(settings.statusCode).toBe(403);
    expect((await services.settings.refresh()).operatorSync).toBe(false);
  });

  it('shows the counts, filters to "changed", and asks a user to sync until they are in step', async () => {
    const user = await changedUser();
    const overview = (await api('GET', '/admin/api/overview', adminToken)).json();
    expect(overview.states.find((s: { state: string }) => s.state === 'changed').users).toBeGreaterThanOrEqual(1);

    const changed = (await api('GET', '/admin/api/users?state=changed&limit=200', adminToken)).json();
    expect(changed.users.map((u: { upn: string }) => u.upn)).toContain(user.upn);
    expect(changed.users.every((u: { state: string }) => u.state === 'changed')).toBe(true);

    // An unknown user refuses the whole request and records nothing.
    const unknown = await api('POST', '/admin/api/prompts', adminToken, { upns: [user.upn, 'nobody@contoso.com'] });
    expect(unknown.statusCode).toBe(404);
    expect((await api('GET', `/admin/api/users/${user.upn}`, adminToken)).json().prompts).toEqual([]);

    const prompted = await api('POST', '/admin/api/prompts', adminToken, { upns: [user.upn, plain.upn] });
    expect(prompted.json()).toEqual({
      prompted: 1,
      skipped: [{ upn: plain.upn, state: 'no_photo' }],
      askedAgain: [],
      email: 'off',
    });
    // A second request while the first is open is made, and says so.
    const again = await api('POST', '/admin/api/prompts', adminToken, { upns: [user.upn] });
    expect(again.json()).toMatchObject({ prompted: 1, skipped: [], askedAgain: [user.upn] });

    const browser = new FormClient(app);
    await browser.signIn(user.upn, PASSWORD);
    const home = await browser.request('GET', '/');
    expect(home.body).toContain('asks you to update your profile picture in SharePoint and OneDrive.');
    expect(home.body).not.toContain('is shown everywhere in the organisation');
    expect(home.body).toMatch(/action="\/launch\/sharepoint"/);
    expect(home.body).toContain('name="from" value="prompt"');
    // The banner alone says it, with its button: no second notice that the sites lag.
    expect(home.body).not.toContain('data-sites-lag=');

    await services.sync.sync(user, 'prompt');
    expect((await browser.request('GET', '/')).body).not.toContain('asks you to update your profile picture');
    const detail = (await api('GET', `/admin/api/users/${user.upn}`, adminToken)).json();
    expect(detail.state).toBe('in_step');
    expect(detail.prompts[0]).toMatchObject({ promptedBy: admin.upn, resolvedAt: expect.any(Number) });
    expect(detail.attempts[0]).toMatchObject({ trigger: 'prompt', outcome: 'synced' });
    expect(detail.renditions.map((r: { size: string }) => r.size)).toEqual(['S', 'M', 'L']);

    const audit = (await api('GET', '/admin/api/audit', adminToken)).json();
    expect(audit.entries[0]).toMatchObject({ actorUpn: admin.upn, action: 'prompt' });
    expect(audit.entries[0].detail.users).toEqual([user.upn]);

    const counts = (await api('GET', '/admin/api/overview', adminToken)).json().states as Array<{
      state: SyncStateName;
      users: number;
    }>;
    const outOfStep = counts.filter((c) => isOutOfStep(c.state)).reduce((sum, c) => sum + c.users, 0);
    const everyone = await api('POST', '/admin/api/prompts', adminToken, { allOutOfStep: true });
    expect(everyone.json()).toMatchObject({ prompted: outOfStep, skipped: [] });
    const both = await api('POST', '/admin/api/prompts', adminToken, { allOutOfStep: true, upns: [user.upn] });
    expect(both.statusCode).toBe(400);
  });

  it('an administrator’s own user page shows their state without changing it, pictures included', async () => {
    // Its L picture came from userphoto.aspx, which syncs its owner: looking synced the administrator.
    const self = await makeUser(services, { isAdmin: true });
    await giveMailPhoto(services, self, await solidJpeg([200, 20, 20], 64));
    await services.sync.sync(self, 'sharepoint_tile');
    await giveMailPhoto(services, self, await solidJpeg([20, 20, 200], 64));
    const attemptsBefore = (await listAttempts(services.database.db, self.id, 100)).length;
    const browser = new FormClient(app);
    await browser.signIn(self.upn, PASSWORD);
    const page = await browser.request('GET', `/admin/users/${encodeURIComponent(self.upn)}`);
    expect(page.statusCode).toBe(200);
    const images = [...page.body.matchAll(/<img[^>]* src="([^"]+)"/g)].map((m) => m[1]!.replaceAll('&amp;', '&'));
    expect(images).toEqual(
      expect.arrayContaining(['S', 'M', 'L'].map((size) => `/admin/photos/${encodeURIComponent(self.upn)}/${size}`)),
    );
    for (const src of images) {
      const image = await browser.request('GET', src);
      expect(image.statusCode, src).toBe(200);
    }
    const detail = (await api('GET', `/admin/api/users/${self.upn}`, await tokenFor(services, self))).json();
    expect(detail.state).toBe('changed');
    expect((await listAttempts(services.database.db, self.id, 100)).length).toBe(attemptsBefore);
  });

  it('shows the latest 1,000 attempts of a long history and says how many there are in all', async () => {
    const user = await makeUser(services);
    const started = Date.now() - 2_000_000;
    const rows = Array.from({ length: 1005 }, (_, i) => ({
      user_id: user.id,
      trigger: 'photo_request',
      outcome: 'unchanged',
      started_at: started + i * 1000,
      duration_ms: 1,
      etag_before: null,
      etag_after: null,
      error: null,
      last_at: started + i * 1000,
    }));
    for (let i = 0; i < rows.length; i += 200) {
      await services.database.db
        .insertInto('sync_attempts')
        .values(rows.slice(i, i + 200))
        .execute();
    }
    const detail = (await api('GET', `/admin/api/users/${user.upn}`, adminToken)).json();
    expect([detail.attempts.length, detail.attemptsTotal]).toEqual([1000, 1005]);
    const browser = new FormClient(app, 'et');
    await browser.signIn(admin.upn, PASSWORD);
    const page = await browser.request('GET', `/admin/users/${encodeURIComponent(user.upn)}`);
    expect(page.body).toContain('Siin on 1005 katsest viimased 1000.');
    const few = (await api('GET', `/admin/api/users/${admin.upn}`, adminToken)).json();
    expect(few.attemptsTotal).toBe(few.attempts.length);
  });

  it('does not ask a disabled user to sync: they cannot sign in to do it', async () => {
    const user = await changedUser();
    await setUserEnabled(services.database.db, user, false);
    const asked = await api('POST', '/admin/api/prompts', adminToken, { upns: [user.upn] });
    expect(asked.json()).toEqual({
      prompted: 0,
      skipped: [{ upn: user.upn, state: 'disabled' }],
      askedAgain: [],
      email: 'off',
    });
    await api('POST', '/admin/api/prompts', adminToken, { allOutOfStep: true });
    expect((await api('GET', `/admin/api/users/${user.upn}`, adminToken)).json().prompts).toEqual([]);

    // The console's form says why, in the visitor's language.
    const browser = new FormClient(app);
    await browser.signIn(admin.upn, PASSWORD);
    for (const [language, words] of [
      ['en', 'the account is disabled'],
      ['et', 'konto on keelatud'],
    ] as const) {
      browser.language = language;
      const _csrf = await browser.csrfToken(`/admin/users/${encodeURIComponent(user.upn)}`);
      const sent = await browser.request('POST', '/admin/prompts', { _csrf, upn: user.upn, back: 'detail' });
      expect(sent.statusCode).toBe(303);
      expect((await browser.request('GET', sent.headers.location as string)).body).toContain(words);
    }
    // Asking everyone out of step counts those not asked for this reason.
    for (const [language, words] of [
      ['en', /Not asked: \d+ out of step whose accounts are disabled/],
      ['et', /Meeldetuletus jäi saatmata \d+ kasutajale, kelle pilt pole ajakohane, sest konto on keelatud/],
    ] as const) {
      browser.language = language;
      const _csrf = await browser.csrfToken('/admin');
      const sent = await browser.request('POST', '/admin/prompts', { _csrf, all: '1' });
      expect(sent.statusCode).toBe(303);
      expect((await browser.request('GET', sent.headers.location as string)).body).toMatch(words);
    }
  });

  it('shows that an account is disabled, on the users table, the user page and in the API', async () => {
    const user = await changedUser();
    const enabledUser = await changedUser();
    await setUserEnabled(services.database.db, user, false);
    const row = (upn: string, body: string) =>
      new RegExp(`<tr data-upn="${upn}"[^>]*>.*?</tr>`, 's').exec(body)?.[0] ?? '';
    const browser = new FormClient(app);
    await browser.signIn(admin.upn, PASSWORD);
    for (const [language, badge, sentence] of [
      ['en', 'Account disabled', 'This account is disabled: the user cannot sign in'],
      ['et', 'Konto on keelatud', 'See konto on keelatud, nii et kasutaja ei saa sünkroonimiseks sisse logida'],
    ] as const) {
      browser.language = language;
      const list = await browser.request('GET', `/admin/users?state=changed&sort=name`);
      expect(row(user.upn, list.body), language).toContain(badge);
      expect(row(user.upn, list.body), language).toContain('data-account="disabled"');
      expect(row(enabledUser.upn, list.body), language).not.toContain(badge);
      const detail = await browser.request('GET', `/admin/users/${encodeURIComponent(user.upn)}`);
      expect(detail.body, language).toContain(sentence);
      expect(detail.body, language).toContain(`photosync users enable ${user.upn}`);
      const other = await browser.request('GET', `/admin/users/${encodeURIComponent(enabledUser.upn)}`);
      expect(other.body, language).not.toContain(sentence);
    }
    const one = await api('GET', `/admin/api/users/${user.upn}`, adminToken);
    expect(one.json()).toMatchObject({ upn: user.upn, enabled: false });
    expect((await api('GET', `/admin/api/users/${enabledUser.upn}`, adminToken)).json()).toMatchObject({
      enabled: true,
    });
    const listed = await api('GET', `/admin/api/users?state=changed&sort=name&limit=200`, adminToken);
    const users = listed.json<{ users: Array<{ upn: string; enabled: boolean }> }>().users;
    expect(users.find((u) => u.upn === user.upn)).toMatchObject({ enabled: false });
    expect(users.find((u) => u.upn === enabledUser.upn)).toMatchObject({ enabled: true });
  });

  it('closes a request to sync once the user syncs, even when they do not come back to the portal’s home', async () => {
    const user = await changedUser();
    await api('POST', '/admin/api/prompts', adminToken, { upns: [user.upn] });
    const browser = new FormClient(app);
    await browser.signIn(user.upn, PASSWORD);
    // The banner's own button: the sync runs and the browser lands in SharePoint, not on the home.
    const token = await browser.csrfToken('/');
    const launched = await browser.request('POST', '/launch/sharepoint', { _csrf: token, from: 'prompt' });
    expect(launched.statusCode).toBe(303);
    expect(launched.headers.location).toBe('/_layouts/15/sharepoint.aspx');
    const detail = (await api('GET', `/admin/api/users/${user.upn}`, adminToken)).json();
    expect(detail.state).toBe('in_step');
    expect(detail.attempts[0]).toMatchObject({ trigger: 'prompt', outcome: 'synced' });
    // The request was answered: the console must not show it as still open.
    expect(detail.prompts[0]).toMatchObject({ resolvedAt: expect.any(Number) });

    // A week later the user changes their photo: the admin's old request is not brought back as
    // the banner, and asking now is a new request, not "asked again".
    await giveMailPhoto(services, user, await solidJpeg([20, 200, 20], 64));
    expect((await browser.request('GET', '/')).body).not.toContain('name="from" value="prompt"');
    const asked = await api('POST', '/admin/api/prompts', adminToken, { upns: [user.upn] });
    expect(asked.json()).toMatchObject({ prompted: 1, askedAgain: [] });
  });

  it('a request answered by the photo changing back is closed then, not before it was made', async () => {
    const user = await changedUser();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await api('POST', '/admin/api/prompts', adminToken, { upns: [user.upn] });
    // The user puts back the photo the sites already show: in step again, since that picture's time.
    await giveMailPhoto(services, user, await solidJpeg([200, 20, 20], 64));
    const detail = (await api('GET', `/admin/api/users/${user.upn}`, adminToken)).json();
    expect(detail.state).toBe('in_step');
    const [prompt] = detail.prompts;
    expect(prompt.resolvedAt).toEqual(expect.any(Number));
    // The console would say "resolved" at a time before "asked".
    expect(prompt.resolvedAt).toBeGreaterThanOrEqual(prompt.promptedAt);
  });

  it('runs an operator sync only when the setting allows it, as trigger "admin"', async () => {
    const user = await changedUser();
    const off = await api('POST', '/admin/api/sync', adminToken, { upns: [user.upn] });
    expect(off.statusCode).toBe(403);
    expect(off.json().error.code).toBe('operator_sync_off');
    expect((await listAttempts(services.database.db, user.id)).map((a) => a.trigger)).toEqual(['sharepoint_tile']);

    const bad = await api('PATCH', '/admin/api/settings', adminToken, {
      operatorSync: true,
      renditionSizes: { S: 80, M: 72, L: 300 },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('invalid_setting');
    expect((await api('GET', '/admin/api/settings', adminToken)).json().operatorSync).toBe(false);
    // A JSON value of another type is refused, not taken as the nearest value of the right one
    // (null as 0 would mean "check every time", "true" as true).
    const before = (await api('GET', '/admin/api/settings', adminToken)).json();
    for (const [body, problem] of [
      [{ recheckSeconds: null }, 'body/recheckSeconds must be integer'],
      [{ errorBackoffSeconds: '60' }, 'body/errorBackoffSeconds must be integer'],
      [{ operatorSync: 'true' }, 'body/operatorSync must be boolean'],
      [{ renditionSizes: { S: 48, M: '72', L: 300 } }, 'body/renditionSizes/M must be integer'],
    ] as const) {
      const refused = await api('PATCH', '/admin/api/settings', adminToken, body);
      expect(refused.statusCode, JSON.stringify(body)).toBe(400);
      // The same error as the schema's own, as for a field the route does not take.
      expect(refused.json().error).toEqual({
        code: 'invalid_request',
        message: `The request is not valid: ${problem}.`,
      });
    }
    const unknown = await api('POST', '/admin/api/prompts', adminToken, { everyone: true });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.code).toBe('invalid_request');
    const typed = await api('POST', '/admin/api/prompts', adminToken, { allOutOfStep: 'true' });
    expect(typed.statusCode).toBe(400);
    expect((await api('GET', '/admin/api/settings', adminToken)).json()).toEqual(before);

    const on = await api('PATCH', '/admin/api/settings', adminToken, { operatorSync: true });
    expect(on.json()).toMatchObject({ changed: ['operatorSync'], settings: { operatorSync: true } });
    const synced = await api('POST', '/admin/api/sync', adminToken, { upns: [user.upn] });
    expect(synced.json()).toEqual({ results: [{ upn: user.upn, outcome: 'synced', error: null }] });
    expect((await listAttempts(services.database.db, user.id))[0]?.trigger).toBe('admin');

    const actions = (await api('GET', '/admin/api/audit?limit=2', adminToken)).json().entries;
    expect(actions.map((e: { action: string }) => e.action)).toEqual(['operator_sync', 'settings']);
    expect(actions[1].detail).toEqual({ operatorSync: { from: false, to: true } });
    await api('PATCH', '/admin/api/settings', adminToken, { operatorSync: false });
  });

  it('the operator sync form: nothing ticked is answered on the users page; the notice tells each outcome', async () => {
    const user = await changedUser();
    const noMailbox = await makeUser(services, { hasMailbox: false });
    await api('PATCH', '/admin/api/settings', adminToken, { operatorSync: true });
    try {
      const browser = new FormClient(app, 'et');
      await browser.signIn(admin.upn, PASSWORD);
      const list = await browser.request('GET', '/admin/users?state=changed');
      const token = /name="_csrf" value="([^"]+)"/.exec(list.body)![1]!;

      const none = await browser.request('POST', '/admin/sync', { _csrf: token, state: 'changed' });
      expect(none.statusCode).toBe(400);
      expect(none.body).toContain(
        '<div class="alert" role="alert"><p>Vali kõigepealt vähemalt üks kasutaja.</p></div>',
      );
      expect(none.body).toContain('<title>Kasutajad – Haldus – photosync</title>');
      expect(none.body).toMatch(/<option value="changed" selected/);

      const sent = await browser.request('POST', '/admin/sync', { _csrf: token, upn: [user.upn, noMailbox.upn] });
      expect(sent.statusCode).toBe(303);
      const after = await browser.request('GET', sent.headers.location as string);
      expect(after.body).toContain(
        'Halduri käivitatud sünkroonimine lõppes. Uuendatud: 1, ebaõnnestunud: 0, muutmata: 1.',
      );
      expect(after.body).toContain(`${user.upn} – Sünkroonitud`);
      expect(after.body).toContain(`${noMailbox.upn} – Postkast puudub`);
    } finally {
      await api('PATCH', '/admin/api/settings', adminToken, { operatorSync: false });
    }
  });

  it('refuses the tenant scan settings outside connect mode, changing nothing', async () => {
    expect(services.m365).toBeUndefined();
    const before = (await api('GET', '/admin/api/settings', adminToken)).json();
    // Settings that cannot be set here are not in the answer either.
    expect(before).not.toHaveProperty('tenantScan');
    expect(before).not.toHaveProperty('tenantScanMinutes');
    expect(before).toHaveProperty('operatorSync');
    const changed = (
      await api('PATCH', '/admin/api/settings', adminToken, { operatorSync: before.operatorSync })
    ).json();
    expect(changed.settings).not.toHaveProperty('tenantScan');
    expect(changed.settings).not.toHaveProperty('tenantScanMinutes');
    const auditBefore = (await api('GET', '/admin/api/audit?limit=200', adminToken)).json().entries.length;
    for (const [body, field] of [
      [{ tenantScan: true }, 'tenantScan'],
      [{ tenantScan: false, operatorSync: true }, 'tenantScan'],
      [{ tenantScanMinutes: 60 }, 'tenantScanMinutes'],
    ] as const) {
      const refused = await api('PATCH', '/admin/api/settings', adminToken, body);
      expect(refused.statusCode, JSON.stringify(body)).toBe(400);
      expect(refused.json().error.code).toBe('invalid_setting');
      expect(refused.json().error.message).toMatch(
        new RegExp(`^${field} applies only in connect mode.*nothing was changed`),
      );
    }
    expect((await api('GET', '/admin/api/settings', adminToken)).json()).toEqual(before);
    expect((await api('GET', '/admin/api/audit?limit=200', adminToken)).json().entries).toHaveLength(auditBefore);
  });

  it('works through the pages with CSRF-protected forms, in the visitor language', async () => {
    const user = await changedUser();
    const browser = new FormClient(app, 'et');
    await browser.signIn(admin.upn, PASSWORD);
    const overview = await browser.request('GET', '/admin');
    expect(overview.statusCode).toBe(200);
    expect(overview.body).toContain('Muutunud pärast viimast sünkroonimist');

    const list = await browser.request('GET', '/admin/users?state=changed&sort=waiting');
    expect(list.body).toContain(`data-upn="${user.upn}"`);
    const token = /name="_csrf" value="([^"]+)"/.exec(list.body)![1]!;

    const forged = await browser.request('POST', '/admin/prompts', { _csrf: 'forged', upn: user.upn });
    expect(forged.statusCode).toBe(403);
    const none = await browser.request('POST', '/admin/prompts', { _csrf: token });
    expect(none.statusCode).toBe(400);
    // Nothing selected is answered on the users page itself, beside the table.
    expect(none.body).toContain('<div class="alert" role="alert"><p>Vali kõigepealt vähemalt üks kasutaja.</p></div>');
    expect(none.body).toContain('<title>Kasutajad – Haldus – photosync</title>');
    // An error page is titled as one, not "Haldus – Haldus".
    expect(forged.body).toContain('<title>Midagi läks valesti – Haldus – photosync</title>');
    expect(forged.body).toContain('<h1>Midagi läks valesti</h1>');

    // The answer keeps the view the form was sent from: its filter, search and sort.
    const view = { state: 'changed', search: user.displayName, sort: 'name' };
    const noneInView = await browser.request('POST', '/admin/prompts', { _csrf: token, ...view });
    expect(noneInView.statusCode).toBe(400);
    expect(noneInView.body).toMatch(/<option value="changed" selected/);
    expect(noneInView.body).toContain(`value="${user.displayName}"`);
    expect(noneInView.body).toContain(`data-upn="${user.upn}"`);
    const sentInView = await browser.request('POST', '/admin/prompts', { _csrf: token, upn: [user.upn], ...view });
    expect(sentInView.statusCode).toBe(303);
    expect(sentInView.headers.location).toBe(
      `/admin/users?${new URLSearchParams({ state: 'changed', search: user.displayName, sort: 'name' }).toString()}`,
    );

    // One chosen user removed meanwhile: the answer names them, and nobody is asked.
    const promptsBefore = (await listPrompts(services.database.db, user.id)).length;
    const gone = await browser.request('POST', '/admin/prompts', { _csrf: token, upn: [user.upn, 'gone@contoso.com'] });
    expect(gone.statusCode).toBe(404);
    expect(gone.body).toContain('Kasutajat gone@contoso.com pole – kas ta eemaldati pärast lehe avamist?');
    expect(await listPrompts(services.database.db, user.id)).toHaveLength(promptsBefore);

    const sent = await browser.request('POST', '/admin/prompts', { _csrf: token, upn: [user.upn] });
    expect(sent.statusCode).toBe(303);
    const after = await browser.request('GET', sent.headers.location as string);
    expect(after.body).toContain('Meeldetuletus saadeti 1 kasutajale.');

    const nobody = await browser.request('GET', '/admin/users/nobody%40contoso.com');
    expect(nobody.statusCode).toBe(404);
    expect(nobody.body).toContain('<h1>Kasutajat ei leitud</h1>');
    expect(nobody.body).toContain('Sellist kasutajat pole.');
    const detail = await browser.request('GET', `/admin/users/${user.upn}`);
    // No directory photo: the caption says so, not that the sites do not use one.
    expect(detail.body).toContain('<strong>Kataloogifotot pole</strong>');
    expect(detail.body).not.toContain('Saidid seda ei kasuta');
    // Triggers and outcomes in words, not codes.
    expect(detail.body).toContain('<td data-label="Käivitaja" role="cell">SharePoint avati portaalist</td>');
    expect(detail.body).toContain('Sünkroonitud</span>');
    expect(detail.body).not.toMatch(/>\s*(sharepoint_tile|synced)\s*</);

    const sync = await browser.request('POST', '/admin/sync', { _csrf: token, upn: user.upn });
    expect(sync.statusCode).toBe(403);
    expect(sync.body).toContain('Haldurid ei saa sünkroonimist käivitada, sest see on sätetes välja lülitatud.');

    const badSettings = await browser.request('POST', '/admin/settings', {
      _csrf: token,
      sizeS: '48',
      sizeM: '72',
      sizeL: '9000',
      recheckSeconds: '0',
      errorBackoffSeconds: '300',
      mailFrom: 'photosync@contoso.com',
    });
    // Answered beside the field, as typed (test/admin-settings-form.test.ts has the details).
    expect(badSettings.statusCode).toBe(400);
    // One field marked (L): "the field".
    expect(badSettings.body).toContain('Sätteid ei salvestatud. Paranda allpool märgitud väli.');
    expect(badSettings.body).toContain('<p class="field-error" id="sizes-error">');
    expect(badSettings.body).toMatch(/<input id="sizeL"[^>]*value="9000"[^>]*aria-invalid="true"/);

    const mailPhoto = await browser.request('GET', `/admin/photos/${user.upn}/mail`);
    expect(mailPhoto.headers['content-type']).toBe('image/jpeg');
    expect((await browser.request('GET', '/admin/audit')).body).toContain('data-action="prompt"');
  });
});
