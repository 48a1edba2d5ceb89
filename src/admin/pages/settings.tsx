import type { PageContext } from '../../web/layout.js';
import { TENANT_SCAN_MINUTES, type AdminSettings } from '../settings.js';
import { adminPage, NoticeBox, type Notice } from './console.js';

export function settingsPage(
  context: PageContext,
  settings: AdminSettings,
  options: { emailOn: boolean; connectMode?: boolean; notice?: Notice | undefined },
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
        {options.connectMode && (
          <fieldset>
            <legend>{t('admin.nav.tenant')}</legend>
            <label>
              <input
                type="checkbox"
                name="tenantScan"
                value="on"
                checked={settings.tenantScan}
                aria-describedby="tenant-scan-hint"
              />{' '}
              {t('admin.settings.tenantScan')}
            </label>
            <label for="tenantScanMinutes">{t('admin.settings.tenantScanMinutes')}</label>
            <input
              id="tenantScanMinutes"
              name="tenantScanMinutes"
              type="number"
              min={TENANT_SCAN_MINUTES.min}
              max={TENANT_SCAN_MINUTES.max}
              value={settings.tenantScanMinutes}
              aria-describedby="tenant-scan-hint"
              required
            />
            <p class="hint" id="tenant-scan-hint">
              {t('admin.settings.tenantScanHint')}
            </p>
          </fieldset>
        )}
        <div class="actions">
          <button type="submit">{t('admin.settings.save')}</button>
        </div>
      </form>
    </>,
  );
}
