import type { ComponentChildren } from 'preact';
import type { MessageKey } from '../portal/messages/en.js';
import { renderPage, type PageContext } from '../portal/layout.js';
import type { AuditEntry } from './audit.js';
import type { UserDetail } from './actions.js';
import type { AdminSettings } from './settings.js';
import { USER_SORTS, type StateCount, type UsersPage, type UsersPageQuery } from './users-query.js';
import { SYNC_STATES, type SyncStateName } from '../sync/state.js';

// The admin console's pages, through the portal's one layout.

type Section = 'overview' | 'users' | 'settings' | 'audit';

const stateKey = (state: SyncStateName) => `admin.state.${state}` as MessageKey;

function formatTime(ms: number | null): string {
  return ms === null || ms === 0 ? '–' : `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function waited(context: PageContext, since: number | null, now = Date.now()): string {
  if (since === null) return context.t('admin.overview.none');
  const minutes = Math.max(0, Math.floor((now - since) / 60_000));
  if (minutes < 120) return context.t('admin.duration.minutes', { n: minutes });
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return context.t('admin.duration.hours', { n: hours });
  return context.t('admin.duration.days', { n: Math.floor(hours / 24) });
}

const userLink = (upn: string) => `/admin/users/${encodeURIComponent(upn)}`;
const sitePhoto = (upn: string, size: 'S' | 'M' | 'L') =>
  `/_layouts/15/userphoto.aspx?size=${size}&accountname=${encodeURIComponent(upn)}`;
const mailPhoto = (upn: string) => `/admin/photos/${encodeURIComponent(upn)}/mail`;

function adminPage(context: PageContext, section: Section, title: string, body: ComponentChildren): string {
  const { t } = context;
  const links: Array<[Section, string, MessageKey]> = [
    ['overview', '/admin', 'admin.nav.overview'],
    ['users', '/admin/users', 'admin.nav.users'],
    ['settings', '/admin/settings', 'admin.nav.settings'],
    ['audit', '/admin/audit', 'admin.nav.audit'],
  ];
  return renderPage(
    context,
    `${title} – ${t('admin.title')}`,
    <section class="card admin">
      <link rel="stylesheet" href="/admin/assets/admin.css" />
      <nav aria-label={t('admin.title')}>
        {links.map(([name, href, key]) => (
          <a href={href} aria-current={name === section ? 'page' : undefined}>
            {t(key)}
          </a>
        ))}
      </nav>
      {body}
    </section>,
  );
}

export interface Notice {
  kind: 'ok' | 'error';
  text: string;
}

function NoticeBox({ notice }: { notice: Notice | undefined }) {
  if (!notice) return null;
  return notice.kind === 'ok' ? (
    <p class="notice" role="status">
      {notice.text}
    </p>
  ) : (
    <p class="alert" role="alert">
      {notice.text}
    </p>
  );
}

export function overviewPage(context: PageContext, counts: StateCount[], notice?: Notice): string {
  const { t } = context;
  return adminPage(
    context,
    'overview',
    t('admin.overview.title'),
    <>
      <h1>{t('admin.overview.title')}</h1>
      <NoticeBox notice={notice} />
      <p class="muted">{t('admin.overview.intro')}</p>
      <table>
        <thead>
          <tr>
            <th>{t('admin.overview.state')}</th>
            <th>{t('admin.overview.users')}</th>
            <th>{t('admin.overview.oldest')}</th>
          </tr>
        </thead>
        <tbody>
          {counts.map((c) => (
            <tr data-state={c.state}>
              <td>
                <a href={`/admin/users?state=${c.state}`}>{t(stateKey(c.state))}</a>
              </td>
              <td class="count">{c.users}</td>
              <td>{c.state === 'in_step' ? '' : waited(context, c.oldestSince)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <form method="post" action="/admin/prompts" class="buttons">
        <input type="hidden" name="_csrf" value={context.csrfToken} />
        <input type="hidden" name="all" value="1" />
        <button type="submit">{t('admin.overview.promptAll')}</button>
      </form>
    </>,
  );
}

export function usersPage(
  context: PageContext,
  query: UsersPageQuery,
  page: UsersPage,
  options: { operatorSync: boolean; notice?: Notice | undefined },
): string {
  const { t } = context;
  const nextHref = page.next
    ? `/admin/users?${new URLSearchParams({
        ...(query.state ? { state: query.state } : {}),
        ...(query.search ? { search: query.search } : {}),
        sort: query.sort ?? 'waiting',
        after: page.next,
      }).toString()}`
    : undefined;
  return adminPage(
    context,
    'users',
    t('admin.users.title'),
    <>
      <h1>{t('admin.users.title')}</h1>
      <NoticeBox notice={options.notice} />
      <form method="get" action="/admin/users" class="filters">
        <div>
          <label for="search">{t('admin.users.search')}</label>
          <input id="search" name="search" type="text" value={query.search ?? ''} />
        </div>
        <div>
          <label for="state">{t('admin.users.state')}</label>
          <select id="state" name="state">
            <option value="">{t('admin.users.anyState')}</option>
            {SYNC_STATES.map((s) => (
              <option value={s} selected={query.state === s}>
                {t(stateKey(s))}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="sort">{t('admin.users.sort')}</label>
          <select id="sort" name="sort">
            {USER_SORTS.map((s) => (
              <option value={s} selected={(query.sort ?? 'waiting') === s}>
                {t(`admin.users.sort.${s}` as MessageKey)}
              </option>
            ))}
          </select>
        </div>
        <button type="submit">{t('admin.users.filter')}</button>
      </form>
      <form method="post" action="/admin/prompts">
        <input type="hidden" name="_csrf" value={context.csrfToken} />
        {page.users.length === 0 ? (
          <p>{t('admin.users.empty')}</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th>{t('admin.users.select')}</th>
                <th>{t('admin.users.user')}</th>
                <th>{t('admin.users.state')}</th>
                <th>{t('admin.users.since')}</th>
                <th>{t('admin.users.mailPhoto')}</th>
                <th>{t('admin.users.sitePhoto')}</th>
                <th>{t('admin.users.etags')}</th>
                <th>{t('admin.users.lastAttempt')}</th>
              </tr>
            </thead>
            <tbody>
              {page.users.map((u) => (
                <tr data-upn={u.upn}>
                  <td>
                    <input type="checkbox" name="upn" value={u.upn} aria-label={u.displayName} />
                  </td>
                  <td>
                    <a href={userLink(u.upn)}>{u.displayName}</a>
                    <br />
                    <span class="muted">{u.upn}</span>
                  </td>
                  <td class="state">{t(stateKey(u.state))}</td>
                  <td title={formatTime(u.since)}>{waited(context, u.since)}</td>
                  <td>
                    {u.mailEtag && (
                      <img
                        class="thumb"
                        src={mailPhoto(u.upn)}
                        alt={t('admin.users.mailAlt', { name: u.displayName })}
                        loading="lazy"
                      />
                    )}
                  </td>
                  <td>
                    <img
                      class="thumb"
                      src={sitePhoto(u.upn, 'M')}
                      alt={t('admin.users.siteAlt', { name: u.displayName })}
                      loading="lazy"
                    />
                  </td>
                  <td>
                    <code>{u.mailEtag ?? '–'}</code> / <code>{u.syncedEtag ?? '–'}</code>
                  </td>
                  <td>
                    {u.lastAttemptAt === null
                      ? t('admin.users.never')
                      : `${formatTime(u.lastAttemptAt)} · ${u.lastOutcome ?? ''}`}
                    {u.lastError && <div class="muted">{u.lastError}</div>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <div class="buttons">
          <button type="submit">{t('admin.users.promptSelected')}</button>
          {options.operatorSync && (
            <button type="submit" formaction="/admin/sync">
              {t('admin.users.syncSelected')}
            </button>
          )}
        </div>
      </form>
      <p class="buttons">
        {query.after && <a href="/admin/users">{t('admin.users.first')}</a>}
        {nextHref && (
          <a href={nextHref} rel="next">
            {t('admin.users.next')}
          </a>
        )}
      </p>
    </>,
  );
}

export function userDetailPage(
  context: PageContext,
  detail: UserDetail,
  options: { operatorSync: boolean; notice?: Notice | undefined },
): string {
  const { t } = context;
  const upn = encodeURIComponent(detail.upn);
  return adminPage(
    context,
    'users',
    detail.displayName,
    <>
      <h1>{t('admin.detail.title', { name: detail.displayName })}</h1>
      <NoticeBox notice={options.notice} />
      <p>
        {detail.upn} ·{' '}
        <span class="state">
          {t('admin.detail.state', { state: t(stateKey(detail.state)), since: formatTime(detail.since) })}
        </span>
      </p>
      <div class="photos">
        <figure>
          {detail.mail ? (
            <img class="large" src={mailPhoto(detail.upn)} alt={t('admin.detail.mailMaster')} />
          ) : (
            <p>{t('admin.detail.none')}</p>
          )}
          <figcaption>
            {t('admin.detail.mailMaster')}
            {detail.mail && (
              <>
                <br />
                <code>{detail.mail.etag}</code> · {detail.mail.side}px · {formatTime(detail.mail.changedAt)}
              </>
            )}
          </figcaption>
        </figure>
        <figure>
          {detail.directoryPhoto ? (
            <img class="large" src={`/admin/photos/${upn}/directory`} alt={t('admin.detail.directoryPhoto')} />
          ) : (
            <p>{t('admin.detail.none')}</p>
          )}
          <figcaption>
            {t('admin.detail.directoryPhoto')}
            <br />
            <strong>{t('admin.detail.directoryNotUsed')}</strong>
          </figcaption>
        </figure>
      </div>
      <h2>{t('admin.detail.renditions')}</h2>
      {detail.renditions.length === 0 ? (
        <p>{t('admin.detail.none')}</p>
      ) : (
        <div class="photos">
          {detail.renditions.map((r) => (
            <figure>
              <img src={sitePhoto(detail.upn, r.size)} alt={r.size} width={r.side} height={r.side} />
              <figcaption>
                {r.size} · {r.side}px · <code>{r.etag}</code>
              </figcaption>
            </figure>
          ))}
        </div>
      )}
      <h2>{t('admin.detail.properties')}</h2>
      <table>
        <tbody>
          {Object.entries(detail.properties).map(([name, value]) => (
            <tr>
              <th>{name}</th>
              <td>
                <code>{value}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form method="post" action="/admin/prompts" class="buttons">
        <input type="hidden" name="_csrf" value={context.csrfToken} />
        <input type="hidden" name="upn" value={detail.upn} />
        <input type="hidden" name="back" value="detail" />
        <button type="submit">{t('admin.detail.prompt')}</button>
        {options.operatorSync && (
          <button type="submit" formaction="/admin/sync">
            {t('admin.detail.sync')}
          </button>
        )}
      </form>
      <h2>{t('admin.detail.prompts')}</h2>
      {detail.prompts.length === 0 ? (
        <p>{t('admin.detail.none')}</p>
      ) : (
        <ul>
          {detail.prompts.map((p) => (
            <li>
              {formatTime(p.promptedAt)} · {t('admin.detail.promptedBy', { upn: p.promptedBy })}
              {p.emailedAt !== null && ` · ${t('admin.detail.emailed')} ${formatTime(p.emailedAt)}`}
              {p.emailError && ` · ${p.emailError}`}
              {p.resolvedAt !== null && ` · ${t('admin.detail.resolved')} ${formatTime(p.resolvedAt)}`}
            </li>
          ))}
        </ul>
      )}
      <h2>{t('admin.detail.history')}</h2>
      {detail.attempts.length === 0 ? (
        <p>{t('admin.detail.noAttempts')}</p>
      ) : (
        <table class="history">
          <thead>
            <tr>
              <th>{t('admin.detail.when')}</th>
              <th>{t('admin.detail.trigger')}</th>
              <th>{t('admin.detail.outcome')}</th>
              <th>{t('admin.detail.duration')}</th>
              <th>ETag</th>
              <th>{t('admin.detail.error')}</th>
            </tr>
          </thead>
          <tbody>
            {detail.attempts.map((a) => (
              <tr>
                <td>{formatTime(a.startedAt)}</td>
                <td>{a.trigger}</td>
                <td>{a.outcome}</td>
                <td>{`${a.durationMs.toFixed(1)} ms`}</td>
                <td>
                  <code>
                    {a.etagBefore ?? '–'} → {a.etagAfter ?? '–'}
                  </code>
                </td>
                <td>{a.error ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>,
  );
}

export function settingsPage(
  context: PageContext,
  settings: AdminSettings,
  options: { emailOn: boolean; notice?: Notice | undefined },
): string {
  const { t } = context;
  const { S, M, L } = settings.renditionSizes;
  return adminPage(
    context,
    'settings',
    t('admin.settings.title'),
    <>
      <h1>{t('admin.settings.title')}</h1>
      <NoticeBox notice={options.notice} />
      <form method="post" action="/admin/settings">
        <input type="hidden" name="_csrf" value={context.csrfToken} />
        <fieldset>
          <legend>{t('admin.settings.sizes')}</legend>
          <input name="sizeS" type="number" min={16} max={648} value={S} aria-label="S" required />
          <input name="sizeM" type="number" min={16} max={648} value={M} aria-label="M" required />
          <input name="sizeL" type="number" min={16} max={648} value={L} aria-label="L" required />
        </fieldset>
        <label for="recheckSeconds">{t('admin.settings.recheck')}</label>
        <input id="recheckSeconds" name="recheckSeconds" type="number" min={0} value={settings.recheckSeconds} />
        <label for="errorBackoffSeconds">{t('admin.settings.backoff')}</label>
        <input
          id="errorBackoffSeconds"
          name="errorBackoffSeconds"
          type="number"
          min={0}
          value={settings.errorBackoffSeconds}
        />
        <label>
          <input type="checkbox" name="operatorSync" value="on" checked={settings.operatorSync} />{' '}
          {t('admin.settings.operatorSync')}
        </label>
        <p class="hint">{t('admin.settings.operatorSyncHint')}</p>
        <label for="mailFrom">{t('admin.settings.mailFrom')}</label>
        <input id="mailFrom" name="mailFrom" type="text" value={settings.mailFrom} />
        {!options.emailOn && <p class="hint">{t('admin.settings.mailOff')}</p>}
        <div class="actions">
          <button type="submit">{t('admin.settings.save')}</button>
        </div>
      </form>
    </>,
  );
}

export function auditPage(context: PageContext, entries: AuditEntry[], next: number | null): string {
  const { t } = context;
  return adminPage(
    context,
    'audit',
    t('admin.audit.title'),
    <>
      <h1>{t('admin.audit.title')}</h1>
      {entries.length === 0 ? (
        <p>{t('admin.audit.empty')}</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>{t('admin.audit.when')}</th>
              <th>{t('admin.audit.who')}</th>
              <th>{t('admin.audit.what')}</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr data-action={e.action}>
                <td>{formatTime(e.at)}</td>
                <td>{e.actorUpn}</td>
                <td>
                  <strong>{e.action}</strong> <code>{JSON.stringify(e.detail)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {next !== null && <a href={`/admin/audit?before=${next}`}>{t('admin.audit.older')}</a>}
    </>,
  );
}

/** A page that only says something (403, a refused form), with the console's navigation. */
export function messagePage(context: PageContext, title: string, message: string): string {
  return adminPage(
    context,
    'overview',
    title,
    <>
      <h1>{title}</h1>
      <p class="alert" role="alert">
        {message}
      </p>
    </>,
  );
}

/** The 403 page for a signed-in user who is not an admin: no console navigation. */
export function forbiddenPage(context: PageContext, upn: string): string {
  const { t } = context;
  return renderPage(
    context,
    t('admin.forbidden.title'),
    <section class="card">
      <h1>{t('admin.forbidden.title')}</h1>
      <p>{t('admin.forbidden.body', { upn })}</p>
    </section>,
  );
}
