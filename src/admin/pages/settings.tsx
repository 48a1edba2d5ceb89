import type { PageContext } from '../../web/layout.js';
import type { AdminSettings } from '../settings.js';
import { adminPage, NoticeBox, type Notice } from './console.js';

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
