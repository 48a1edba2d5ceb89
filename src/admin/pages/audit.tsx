import type { PageContext } from '../../web/layout.js';
import type { AuditEntry } from '../audit.js';
import { auditActor, auditSentences } from './audit-words.js';
import { adminPage, formatTime } from './console.js';

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
        <table class="stack" role="table">
          <thead role="rowgroup">
            <tr role="row">
              <th role="columnheader">{t('admin.audit.when')}</th>
              <th role="columnheader">{t('admin.audit.who')}</th>
              <th role="columnheader">{t('admin.audit.what')}</th>
            </tr>
          </thead>
          <tbody role="rowgroup">
            {entries.map((e) => (
              <tr data-action={e.action} role="row">
                <td data-label={t('admin.audit.when')} role="cell">
                  {formatTime(context, e.at)}
                </td>
                <td data-label={t('admin.audit.who')} role="cell">
                  {auditActor(context, e)}
                </td>
                <td data-label={t('admin.audit.what')} role="cell">
                  {auditSentences(context, e).map((sentence) => (
                    <p>{sentence}</p>
                  ))}
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
