import { expect, it } from 'vitest';
import { listAudit } from '../src/admin/audit.js';
import { et } from '../src/web/messages/et.js';
import { makeUser } from './support/factories.js';
import { FormClient } from './support/form-client.js';
import { describeEachDialect, useTestApp } from './support/services.js';

// The settings form over HTTP on both databases: a wrong value comes back beside its field, as
// typed, in the admin's language, and nothing is saved.

const PASSWORD = 'correct horse battery';

const GOOD = {
  sizeS: '48',
  sizeM: '72',
  sizeL: '300',
  recheckSeconds: '0',
  errorBackoffSeconds: '300',
  mailFrom: 'photosync@contoso.com',
};

/** Text as the page writes it (preact escapes < and &). */
const html = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** The input with this id, as the page renders it. */
const inputTag = (body: string, id: string) => new RegExp(`<input[^>]*id="${id}"[^>]*>`).exec(body)?.[0] ?? '';

describeEachDialect('the settings form', (dialect) => {
  const context = useTestApp(dialect);

  async function adminClient() {
    const admin = await makeUser(context.services, { isAdmin: true });
    const client = new FormClient(context.app, 'et');
    await client.signIn(admin.upn, PASSWORD);
    return client;
  }

  it('marks each wrong field with its error, keeps what was typed, and saves nothing', async () => {
    const client = await adminClient();
    const before = await context.services.settings.refresh();
    const auditBefore = (await listAudit(context.services.database.db, {})).entries.length;
    const typed = {
      ...GOOD,
      sizeS: 'abc',
      errorBackoffSeconds: '-5',
      mailFrom: 'kes <see on',
      operatorSync: 'on',
    };
    const answer = await client.request('POST', '/admin/settings', {
      _csrf: await client.csrfToken('/admin/settings'),
      ...typed,
    });
    expect(answer.statusCode).toBe(400);
    expect(answer.headers['content-type']).toContain('text/html');
    const body = answer.body;
    // Three fields are marked (sizeS, the back-off, the sender): "the fields".
    expect(body).toContain(et['admin.settings.notSavedMany']);

    const s = inputTag(body, 'sizeS');
    expect(s).toContain('value="abc"');
    expect(s).toContain('aria-invalid="true"');
    expect(s).toContain('aria-describedby="sizes-error"');
    expect(inputTag(body, 'sizeM')).not.toContain('aria-invalid');
    expect(body).toContain(`<p class="field-error" id="sizes-error">${html(et['admin.settings.error.sizes'])}</p>`);

    const backoff = inputTag(body, 'errorBackoffSeconds');
    expect(backoff).toContain('value="-5"');
    expect(backoff).toContain('aria-describedby="errorBackoffSeconds-error"');
    expect(body).toContain(`id="errorBackoffSeconds-error">${html(et['admin.settings.error.seconds'])}</p>`);
    expect(inputTag(body, 'recheckSeconds')).not.toContain('aria-invalid');

    const mail = inputTag(body, 'mailFrom');
    expect(mail).toContain('value="kes &lt;see on"');
    expect(mail).toContain('aria-invalid="true"');
    expect(body).toContain(`id="mailFrom-error">${html(et['admin.settings.error.mailFrom'])}</p>`);
    // The checkbox keeps its tick too.
    expect(body).toMatch(/<input type="checkbox" name="operatorSync" value="on" checked/);

    expect(await context.services.settings.refresh()).toEqual(before);
    expect((await listAudit(context.services.database.db, {})).entries.length).toBe(auditBefore);
  });

  it('a form whose token ran out comes back as typed, saying so, with a token to send it again; nothing is saved', async () => {
    const client = await adminClient();
    const before = await context.services.settings.refresh();
    const typed = { ...GOOD, sizeL: '320', recheckSeconds: '45', operatorSync: 'on' };
    const answer = await client.request('POST', '/admin/settings', { _csrf: 'a token from yesterday', ...typed });
    expect(answer.statusCode).toBe(403);
    expect(answer.body).toContain(html(et['form.expired']));
    expect(inputTag(answer.body, 'sizeL')).toContain('value="320"');
    expect(inputTag(answer.body, 'recheckSeconds')).toContain('value="45"');
    expect(/<input[^>]*name="operatorSync"[^>]*>/.exec(answer.body)?.[0]).toContain('checked');
    expect(await context.services.settings.refresh()).toEqual(before);
    // Sent again from that page, it is saved.
    const token = /name="_csrf" value="([^"]+)"/.exec(answer.body)?.[1] ?? '';
    const again = await client.request('POST', '/admin/settings', { _csrf: token, ...typed });
    expect(again.statusCode).toBe(303);
    expect((await context.services.settings.refresh()).renditionSizes.L).toBe(320);
    await client.request('POST', '/admin/settings', {
      _csrf: await client.csrfToken('/admin/settings'),
      ...GOOD,
      ...(before.operatorSync ? { operatorSync: 'on' } : {}),
    });
  });

  it('marks all three sizes when each is allowed but they do not grow S < M < L', async () => {
    const client = await adminClient();
    const answer = await client.request('POST', '/admin/settings', {
      _csrf: await client.csrfToken('/admin/settings'),
      ...GOOD,
      sizeS: '300',
      sizeL: '48',
    });
    expect(answer.statusCode).toBe(400);
    for (const id of ['sizeS', 'sizeM', 'sizeL']) expect(inputTag(answer.body, id)).toContain('aria-invalid="true"');
    expect(inputTag(answer.body, 'sizeL')).toContain('value="48"');
  });

  it('a number longer than any setting comes back beside its field too; the users search field stops at what the list takes', async () => {
    const client = await adminClient();
    const long = '1'.repeat(150);
    const answer = await client.request('POST', '/admin/settings', {
      _csrf: await client.csrfToken('/admin/settings'),
      ...GOOD,
      sizeS: long,
    });
    expect(answer.statusCode).toBe(400);
    expect(inputTag(answer.body, 'sizeS')).toContain(`value="${long}"`);
    expect(inputTag(answer.body, 'sizeS')).toContain('aria-invalid="true"');
    const users = await client.request('GET', '/admin/users');
    expect(inputTag(users.body, 'search')).toContain('maxlength="200"');
  });

  it('saves good values as typed, spaces around numbers allowed', async () => {
    const client = await adminClient();
    const saved = await client.request('POST', '/admin/settings', {
      _csrf: await client.csrfToken('/admin/settings'),
      ...GOOD,
      sizeL: ' 320 ',
      recheckSeconds: '60',
    });
    expect(saved.statusCode).toBe(303);
    const settings = await context.services.settings.refresh();
    expect(settings.renditionSizes).toEqual({ S: 48, M: 72, L: 320 });
    expect(settings.recheckSeconds).toBe(60);
    const page = await client.request('GET', '/admin/settings');
    expect(page.body).toContain(et['admin.notice.saved']);
    expect(page.body).not.toContain('aria-invalid');
  });
});
