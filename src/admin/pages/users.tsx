import { PLACEHOLDER_PATH } from '../../sites/placeholder.js';
import { SYNC_STATES } from '../../sync/state.js';
import type { PageContext } from '../../web/layout.js';
import type { MessageKey } from '../../web/messages/en.js';
import { USER_SORTS, type UsersPage, type UsersPageQuery } from '../users-query.js';
import { adminPage, formatTime, mailPhoto, NoticeBox, sitePhoto, userLink, waited, type Notice } from './console.js';
import { FilterForm } from './filters.js';
import { DisabledBadge, Etag, LastAttempt, StateBadge } from './words.js';

/** The users page with the same filter, search and sort: from its start, or after a given row. */
export function usersLink(query: UsersPageQuery, after?: string): string {
  const params = new URLSearchParams({
    ...(query.state ? { state: query.state } : {}),
    ...(query.search ? { search: query.search } : {}),
    sort: query.sort ?? 'action',
    ...(after ? { after } : {}),
  });
  return `/admin/users?${params.toString()}`;
}

export function usersPage(
  context: PageContext,
  query: UsersPageQuery,
  page: UsersPage,
  options: { operatorSync: boolean; notice?: Notice | undefined },
): string {
  const { t } = context;
  const nextHref = page.next ? usersLink(query, page.next) : undefined;
  return adminPage(
    context,
    'users',
    t('admin.users.title'),
    <>
      <h1>{t('admin.users.title')}</h1>
      <NoticeBox notice={options.notice} />
      <FilterForm
        context={context}
        action="/admin/users"
        states={SYNC_STATES}
        search={query.search}
        state={query.state}
        growSearch
        sort={{
          options: USER_SORTS.map((s) => ({ value: s, label: t(`admin.users.sort.${s}` as MessageKey) })),
          selected: query.sort ?? 'action',
        }}
      />
      <form method="post" action="/admin/prompts">
        <input type="hidden" name="_csrf" value={context.csrfToken} />
        {/* The view the form was sent from, which its answer comes back to. */}
        {query.state && <input type="hidden" name="state" value={query.state} />}
        {query.search && <input type="hidden" name="search" value={query.search} />}
        {query.sort && <input type="hidden" name="sort" value={query.sort} />}
        {query.after && <input type="hidden" name="after" value={query.after} />}
        {page.users.length === 0 ? (
          <p>{t('admin.users.empty')}</p>
        ) : (
          <table class="stack" role="table">
            <thead role="rowgroup">
              <tr role="row">
                <th data-label={t('admin.users.selectAll')} role="columnheader">
                  <label class="check">
                    <input type="checkbox" data-select-all="" aria-label={t('admin.users.selectAll')} />
                  </label>
                </th>
                <th role="columnheader">{t('admin.users.user')}</th>
                <th role="columnheader">{t('admin.users.state')}</th>
                <th role="columnheader">{t('admin.users.since')}</th>
                <th role="columnheader">{t('admin.users.mailPhoto')}</th>
                <th role="columnheader">{t('admin.users.sitePhoto')}</th>
                <th role="columnheader">{t('admin.users.etags')}</th>
                <th role="columnheader">{t('admin.users.lastAttempt')}</th>
              </tr>
            </thead>
            <tbody role="rowgroup">
              {page.users.map((u) => (
                <tr data-upn={u.upn} role="row">
                  <td role="cell">
                    <label class="check">
                      <input type="checkbox" name="upn" value={u.upn} aria-label={u.displayName} />
                    </label>
                  </td>
                  <td role="cell">
                    <a href={userLink(u.upn)}>{u.displayName}</a>
                    <br />
                    <span class="muted">{u.upn}</span>
                  </td>
                  <td class="state" data-label={t('admin.users.state')} role="cell">
                    <StateBadge context={context} state={u.state} />
                    {!u.enabled && (
                      <>
                        {' '}
                        <DisabledBadge context={context} />
                      </>
                    )}
                  </td>
                  <td title={formatTime(context, u.since)} data-label={t('admin.users.since')} role="cell">
                    {waited(context, u.since)}
                  </td>
                  <td data-label={t('admin.users.mailPhoto')} role="cell">
                    {u.mailEtag ? (
                      <img
                        class="thumb"
                        src={mailPhoto(u.upn)}
                        alt={t('admin.users.mailAlt', { name: u.displayName })}
                        loading="lazy"
                      />
                    ) : (
                      <img
                        class="thumb"
                        src={PLACEHOLDER_PATH}
                        alt={t('admin.users.noMailAlt', { name: u.displayName })}
                        data-placeholder=""
                      />
                    )}
                  </td>
                  <td data-label={t('admin.users.sitePhoto')} role="cell">
                    <img
                      class="thumb"
                      src={sitePhoto(u.upn, 'M')}
                      alt={t('admin.users.siteAlt', { name: u.displayName })}
                      loading="lazy"
                    />
                  </td>
                  <td data-label={t('admin.users.etags')} role="cell">
                    <Etag context={context} value={u.mailEtag} /> / <Etag context={context} value={u.syncedEtag} />
                  </td>
                  <td data-label={t('admin.users.lastAttempt')} role="cell">
                    <LastAttempt context={context} at={u.lastAttemptAt} outcome={u.lastOutcome} error={u.lastError} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {page.users.length > 0 && (
          <div class="buttons">
            <button type="submit" id="prompt-selected">
              {t('admin.users.promptSelected')}
            </button>
            {options.operatorSync && (
              <button type="submit" formaction="/admin/sync">
                {t('admin.users.syncSelected')}
              </button>
            )}
          </div>
        )}
      </form>
      <p class="buttons">
        {query.after && <a href={usersLink(query)}>{t('admin.users.first')}</a>}
        {nextHref && (
          <a href={nextHref} rel="next">
            {t('admin.users.next')}
          </a>
        )}
      </p>
    </>,
  );
}
