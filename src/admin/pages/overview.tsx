import { isOutOfStep } from '../../sync/state.js';
import type { PageContext } from '../../web/layout.js';
import { type StateCount } from '../users-query.js';
import { adminPage, NoticeBox, stateKey, waited, type Notice } from './console.js';

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
      {counts.some((c) => isOutOfStep(c.state) && c.users > 0) && (
        <form method="post" action="/admin/prompts" class="buttons">
          <input type="hidden" name="_csrf" value={context.csrfToken} />
          <input type="hidden" name="all" value="1" />
          <button type="submit">{t('admin.overview.promptAll')}</button>
        </form>
      )}
    </>,
  );
}
