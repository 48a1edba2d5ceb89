import { isOutOfStep } from '../../sync/state.js';
import type { PageContext } from '../../web/layout.js';
import type { StateCount, UserRow } from '../users-query.js';
import { adminPage, NoticeBox, userLink, waited, type Notice } from './console.js';
import { DisabledBadge, StateBadge, stateText } from './words.js';

export function overviewPage(context: PageContext, counts: StateCount[], first: UserRow[], notice?: Notice): string {
  const { t } = context;
  const anyoneOut = counts.some((c) => isOutOfStep(c.state) && c.users > 0);
  return adminPage(
    context,
    'overview',
    t('admin.overview.title'),
    <>
      <h1>{t('admin.overview.title')}</h1>
      <NoticeBox notice={notice} />
      <p class="muted">{t('admin.overview.intro')}</p>
      <h2>{t('admin.overview.first')}</h2>
      {first.length === 0 ? (
        <p>{t('admin.overview.firstEmpty')}</p>
      ) : (
        <>
          <ul class="waiting" id="first-out-of-step">
            {first.map((u) => (
              <li data-upn={u.upn}>
                <a href={userLink(u.upn)}>{u.displayName}</a> <StateBadge context={context} state={u.state} />{' '}
                {!u.enabled && (
                  <>
                    <DisabledBadge context={context} />{' '}
                  </>
                )}
                <span class="muted">{waited(context, u.since)}</span>
              </li>
            ))}
          </ul>
          <p>
            <a href="/admin/users?sort=action">{t('admin.overview.allOfThem')}</a>
          </p>
        </>
      )}
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
                <a href={`/admin/users?state=${c.state}`}>
                  <StateBadge context={context} state={c.state} />
                </a>
                <div class="muted">{stateText(t, c.state)}</div>
              </td>
              <td class="count">{c.users}</td>
              <td>{isOutOfStep(c.state) ? waited(context, c.oldestSince) : t('admin.overview.none')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {anyoneOut && (
        <form method="post" action="/admin/prompts" class="buttons">
          <input type="hidden" name="_csrf" value={context.csrfToken} />
          <input type="hidden" name="all" value="1" />
          <button type="submit">{t('admin.overview.promptAll')}</button>
        </form>
      )}
    </>,
  );
}
