import { promptNotice } from './notices.js';
import { render } from 'preact-render-to-string';
import { describe, expect, it } from 'vitest';
import { SYNC_OUTCOMES, SYNC_TRIGGERS } from '../../sync/history.js';
import { TENANT_STATES } from '../../m365/model.js';
import { isOutOfStep, SYNC_STATES } from '../../sync/state.js';
import { LOCALES, translator } from '../../web/i18n.js';
import type { PageContext } from '../../web/layout.js';
import { auditActor, auditSentences } from './audit-words.js';
import { formatTime, waited, type ConsoleContext } from './console.js';
import { overviewPage } from './overview.js';
import { userDetailPage } from './user-detail.js';
import { usersPage } from './users.js';
import type { UserDetail } from '../actions.js';
import { AUDIT_ACTIONS, type AuditEntry } from '../audit.js';
import { pictureProperties, pictureTimestampValue } from '../../sites/library.js';
import { Etag, LastAttempt, OutcomeBadge, pushFailureKind, StateBadge, syncErrorKind, triggerText } from './words.js';
import { pushItem } from './tenant-sync.js';

const contextIn = (locale: (typeof LOCALES)[number]): PageContext => ({
  locale,
  t: translator(locale),
  csrfToken: 'x',
});

describe.each(LOCALES)('the console in words [%s]', (locale) => {
  const context = contextIn(locale);
  const codes = [...SYNC_STATES, 'unknown', ...SYNC_OUTCOMES, ...SYNC_TRIGGERS];

  it("gives every state (a tenant's unknown too) and outcome a badge with an icon and a word, never a code", () => {
    for (const state of TENANT_STATES) {
      const html = render(<StateBadge context={context} state={state} />);
      expect(html).toMatch(/class="badge badge-\w+"/);
      expect(html).toMatch(/<span class="badge-icon" aria-hidden="true">[^<]+<\/span>/);
      const text = html.replace(/<[^>]+>/g, '').replace(/^[^\p{L}]+/u, '');
      expect(codes).not.toContain(text);
    }
    for (const outcome of SYNC_OUTCOMES) {
      const html = render(<OutcomeBadge context={context} outcome={outcome} />);
      expect(html).toMatch(/badge-icon/);
      expect(html).not.toContain(`>${outcome}<`);
    }
    for (const trigger of SYNC_TRIGGERS) expect(codes).not.toContain(triggerText(context.t, trigger));
  });

  it('shortens an ETag and keeps the full value on hover and for the copy button', () => {
    const html = render(<Etag context={context} value="0123456789abcdef0123" />);
    expect(html).toContain('>01234567…</code>');
    expect(html).toContain('title="0123456789abcdef0123"');
    expect(html).toContain('data-copy="0123456789abcdef0123"');
  });

  it('says "under a minute" rather than 0 min', () => {
    expect(waited(context, Date.now() - 5_000)).toBe(context.t('admin.duration.underMinute'));
    expect(waited(context, Date.now() - 5 * 60_000)).toBe(context.t('admin.duration.minutes', { n: 5 }));
  });

  it('writes audit entries as sentences', () => {
    const sentences = auditSentences(context, {
      id: 1,
      at: 0,
      actorUpn: 'ada@contoso.com',
      byCommandLine: false,
      action: 'settings',
      detail: {
        operatorSync: { from: false, to: true },
        renditionSizes: { from: { S: 48, M: 72, L: 300 }, to: { S: 64, M: 96, L: 300 } },
      },
    });
    expect(sentences).toHaveLength(1);
    expect(sentences[0]).toContain('48/72/300');
    expect(sentences[0]).not.toMatch(/[{}"]/);
  });

  it('names the unused sign-in codes a revoke-sessions ended, and says nothing of them in entries from before they were counted', () => {
    const entry = (detail: Record<string, unknown>): AuditEntry => ({
      id: 1,
      at: 0,
      actorUpn: 'command line',
      byCommandLine: true,
      action: 'sessions_revoked',
      detail,
    });
    const codeWords = locale === 'et' ? 'kasutamata sisselogimiskoode: 3' : 'unused sign-in codes: 3';
    const [now] = auditSentences(context, entry({ upn: 'mari@contoso.com', refreshTokens: 1, codes: 3, sessions: 2 }));
    expect(now).toContain(codeWords);
    const [before] = auditSentences(context, entry({ upn: 'mari@contoso.com', refreshTokens: 1, sessions: 2 }));
    expect(before).toContain('mari@contoso.com');
    expect(before).not.toMatch(locale === 'et' ? /sisselogimiskood/ : /sign-in codes/);
  });
});

describe.each(LOCALES)('audit entries of every action [%s]', (locale) => {
  it('says each action in words, with its details filled in', () => {
    const context = contextIn(locale);
    const detail = {
      upn: 'jane@contoso.com',
      name: 'HR sync',
      clientId: 'c1',
      scopes: ['ProfilePhoto.Read.All'],
      file: 'people.csv',
      imported: 2,
      skipped: 1,
      admins: ['mari@contoso.com'],
      users: 3,
      backupCreatedAt: '2026-12-01T10:00:00.000Z',
    };
    for (const action of AUDIT_ACTIONS.filter((a) => !['prompt', 'operator_sync', 'settings'].includes(a))) {
      const sentences = auditSentences(context, {
        id: 1,
        at: 0,
        actorUpn: 'command line',
        byCommandLine: true,
        action,
        detail,
      });
      expect(sentences.length, action).toBeGreaterThan(0);
      for (const sentence of sentences) expect(sentence, action).not.toMatch(/[{}]|undefined|admin\.audit/);
    }
  });
});

describe.each(LOCALES)('audit entries with details left out [%s]', (locale) => {
  it('writes the backup time as the page writes times, and an app without permissions as such', () => {
    const context = contextIn(locale);
    const at = Date.UTC(2026, 11, 1, 10, 0);
    const base = { id: 1, at: 0, actorUpn: 'command line', byCommandLine: true } as const;
    const [restored] = auditSentences(context, {
      ...base,
      action: 'restored',
      detail: { file: 'b.tar.gz', users: 3, backupCreatedAt: new Date(at).toISOString() },
    });
    expect(restored).toContain(formatTime(context, at));
    expect(restored).not.toContain('T10:00');
    const [app] = auditSentences(context, {
      ...base,
      action: 'app_added',
      detail: { name: 'HR sync', clientId: 'c1', scopes: [] },
    });
    expect(app).not.toMatch(/with \.|õigustega \./);
    expect(app).toContain(locale === 'et' ? 'ilma õigusteta' : 'with no permissions');
  });
});

describe.each(LOCALES)('work that stopped part-way, in the audit log [%s]', (locale) => {
  const context = contextIn(locale);
  const sentences = (action: AuditEntry['action'], detail: Record<string, unknown>) =>
    auditSentences(context, { id: 1, at: 0, actorUpn: 'ada@contoso.com', byCommandLine: false, action, detail });

  it("names whose operator sync was not reached, and an import's users added before it stopped", () => {
    const none = sentences('operator_sync', { results: [], pending: ['jane@contoso.com', 'mari@contoso.com'] });
    expect(none).toHaveLength(1);
    expect(none[0]).toContain('jane@contoso.com, mari@contoso.com');
    const some = sentences('operator_sync', {
      results: [{ upn: 'jane@contoso.com', outcome: 'synced', error: null }],
      pending: ['mari@contoso.com'],
    });
    expect(some).toHaveLength(2);
    expect(some[0]).toContain('jane@contoso.com');
    expect(some[1]).toContain('mari@contoso.com');
    expect(some[1]).not.toContain('jane@contoso.com');
    const finished = sentences('users_imported', { file: 'people.csv', imported: 4, skipped: 1, admins: [] });
    const stopped = sentences('users_imported', { file: 'people.csv', imported: 4, admins: [], unfinished: true });
    expect(stopped[0]).toContain('people.csv');
    expect(stopped[0]).toContain('4');
    expect(stopped[0]).not.toBe(finished[0]);
    for (const sentence of [...none, ...some, ...stopped]) expect(sentence).not.toMatch(/[{}]|undefined|admin\.audit/);
  });

  it("says of an operator sync's user removed before their sync, or whose sync failed, what happened: no stop", () => {
    const done = sentences('operator_sync', {
      results: [
        { upn: 'jane@contoso.com', outcome: 'failed', error: 'attempt refused' },
        { upn: 'mari@contoso.com', outcome: 'not_found', error: 'There is no user mari@contoso.com.' },
      ],
    });
    const stopped = sentences('operator_sync', { results: [], pending: ['mari@contoso.com'] })[0];
    expect(done).toHaveLength(1);
    expect(done[0]).toContain(`jane@contoso.com (${context.t('admin.outcome.failed')})`);
    expect(done[0]).toContain(`mari@contoso.com (${context.t('admin.outcome.not_found')})`);
    expect(done[0]).not.toMatch(/not_found|[{}]|undefined|admin\./);
    expect(context.t('admin.outcome.not_found')).not.toBe(context.t('admin.outcome.removed'));
    expect(done).not.toContain(stopped);
  });

  it('names an app that acted with its own token by its name and client id', () => {
    const who = auditActor(context, {
      id: 1,
      at: 0,
      actorUpn: 'HR photo sync',
      byCommandLine: false,
      byApp: { clientId: 'c1', name: 'HR photo sync' },
      action: 'photo_set',
      detail: { upn: 'jane@contoso.com', via: 'graph' },
    });
    expect(who).toContain('HR photo sync');
    expect(who).toContain('c1');
    expect(who).not.toMatch(/[{}]|admin\.audit/);
  });
});

describe('audit entries in English', () => {
  const context = contextIn('en');
  const entry = (action: AuditEntry['action'], detail: Record<string, unknown>) =>
    auditSentences(context, { id: 1, at: 0, actorUpn: 'ada@contoso.com', byCommandLine: false, action, detail }).join(
      ' ',
    );

  it('never says "1 users" or "0 users to sync: nobody" for the usual request about one person', () => {
    const one = entry('prompt', { users: ['jane@contoso.com'] });
    const none = entry('prompt', { users: [], skipped: [{ upn: 'megan@contoso.com', state: 'no_photo' }] });
    const all = entry('prompt', { allOutOfStep: true, users: 1 });
    const synced = entry('operator_sync', { results: [{ upn: 'jane@contoso.com', outcome: 'synced' }] });
    for (const sentence of [one, none, all, synced]) expect(sentence).not.toMatch(/\b[01] users\b/);
    expect(one).toContain('jane@contoso.com');
    expect(none).toContain('megan@contoso.com');
    expect(entry('prompt', { allOutOfStep: true, users: 3, disabled: 2 })).toBe(
      'Asked everyone out of step to sync (users asked: 3). Not asked, their accounts disabled: 2.',
    );
  });
});

describe('the notice after asking everyone out of step', () => {
  const notice = (locale: 'en' | 'et', detail: Record<string, unknown>) =>
    promptNotice(contextIn(locale), {
      id: 1,
      at: 0,
      actorUpn: 'ada@contoso.com',
      byCommandLine: false,
      action: 'prompt',
      detail: { allOutOfStep: true, ...detail },
    });

  it('says why nobody was asked: nobody out of step, or only people whose accounts are disabled', () => {
    expect(notice('en', { users: 0, askedAgain: 0, disabled: 0 })).toEqual({
      kind: 'info',
      text: 'Nobody was asked to sync: nobody’s picture is out of step.',
      items: [],
    });
    expect(notice('en', { users: 0, askedAgain: 0, disabled: 2 })).toEqual({
      kind: 'info',
      text: 'Nobody was asked to sync.',
      items: ['Not asked: 2 out of step whose accounts are disabled, so they cannot sign in to sync.'],
    });
    expect(notice('et', { users: 3, askedAgain: 0, disabled: 1 }).items).toEqual([
      'Meeldetuletus jäi saatmata 1 kasutajale, kelle pilt pole ajakohane, sest konto on keelatud ja sünkroonimiseks ei saa sisse logida.',
    ]);
  });
});

describe('times and errors', () => {
  it('writes times as each language does', () => {
    const at = Date.UTC(2026, 10, 30, 5, 43);
    expect(formatTime(contextIn('et'), at)).toBe('30.11.2026 kell 05.43 UTC');
    expect(formatTime(contextIn('en'), at)).toBe('30 Nov 2026, 05:43 UTC');
  });

  it("tells libvips' raw text from other trouble", () => {
    expect(syncErrorKind('VipsJpeg: Premature end of JPEG file')).toBe('image');
    expect(syncErrorKind('Input buffer contains unsupported image format')).toBe('image');
    expect(syncErrorKind('ENOSPC: no space left on device, write')).toBe('storage');
    expect(syncErrorKind('Timed out waiting for the lock')).toBe('timeout');
    expect(syncErrorKind('something else')).toBe('other');
  });

  it('tells a tenant that did not answer, refused, or throttled, in the reader’s language, the raw text folded away', () => {
    const down = 'https://contoso.sharepoint.com cannot be reached: nothing answers. Check PHOTOSYNC_M365_GRAPH_URL.';
    expect(pushFailureKind(down)).toBe('unreachable');
    expect(pushFailureKind('Graph answered 401 InvalidAuthenticationToken: Access token validation failure.')).toBe(
      'refused',
    );
    expect(pushFailureKind('Graph answered 429 TooManyRequests')).toBe('throttled');
    expect(pushFailureKind('Graph answered 500 generalException')).toBe('other');
    const item = pushItem(contextIn('et') as ConsoleContext, 'Kalle Kask', 'failed', down);
    expect(item.text).toBe('Kalle Kask – sünkroonimine ebaõnnestus. Microsoft 365 ei vastanud.');
    expect(item.detail).toEqual({ label: 'Tehnilised üksikasjad', text: down });
    const html = render(<LastAttempt context={contextIn('et')} at={0} outcome="failed" error={down} tenant />);
    expect(html).toContain('<p>Microsoft 365 ei vastanud.</p>');
    expect(html).not.toContain('ootamatu');
  });
});

describe('the overview and the detail page', () => {
  const context = contextIn('en');
  const hourAgo = Date.now() - 3 * 3600_000;

  it('gives a longest wait only to the states that wait for the user, not to no mail photo or no mailbox', () => {
    const counts = SYNC_STATES.map((state) => ({ state, users: 1, oldestSince: hourAgo }));
    const html = overviewPage(context, counts, []);
    for (const state of SYNC_STATES) {
      const row = new RegExp(`<tr data-state="${state}">.*?</tr>`, 's').exec(html)![0];
      const wait = /<td>([^<]*)<\/td><\/tr>$/.exec(row)![1];
      expect(wait, state).toBe(isOutOfStep(state) ? '3 h' : '–');
    }
  });

  it('writes SPS-PictureTimestamp as a date beside its raw value', () => {
    const at = Date.UTC(2026, 10, 30, 5, 43);
    const detail: UserDetail = {
      upn: 'ada@contoso.com',
      displayName: 'Ada',
      enabled: true,
      hasMailbox: true,
      isAdmin: false,
      state: 'in_step',
      since: at,
      mail: null,
      directoryPhoto: null,
      renditions: [],
      properties: pictureProperties(
        'https://photos.contoso.com',
        'ada_contoso_com',
        {
          placeholderState: 0,
          exchangeSyncState: 1,
          pictureTimestamp: at,
        },
        true,
      ),
      syncedEtag: null,
      attempts: [],
      attemptsTotal: 0,
      prompts: [],
    };
    const html = userDetailPage(context, detail, { operatorSync: false });
    expect(html).toContain(
      `<code>${pictureTimestampValue(at)}</code><span class="muted"> · 30 Nov 2026, 05:43 UTC</span>`,
    );
  });

  it("keeps the users page's filter, search and sort in its links to the next and the first page", () => {
    const query = { state: 'changed' as const, search: 'Ann Lee', sort: 'name' as const, after: 'c1' };
    const html = usersPage(context, query, { users: [], next: 'c2' }, { operatorSync: false });
    const hrefs = [...html.matchAll(/<a href="(\/admin\/users\?[^"]*)"( rel="next")?>/g)].map((m) => [
      m[1]!.replaceAll('&amp;', '&'),
      m[2] !== undefined,
    ]);
    expect(hrefs).toContainEqual(['/admin/users?state=changed&search=Ann+Lee&sort=name', false]);
    expect(hrefs).toContainEqual(['/admin/users?state=changed&search=Ann+Lee&sort=name&after=c2', true]);
  });
});
