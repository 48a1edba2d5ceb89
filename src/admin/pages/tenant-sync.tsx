import type { PushOutcome, PushReport } from '../../m365/push.js';
import type { MessageKey } from '../../web/messages/en.js';
import type { AuditEntry } from '../audit.js';
import { pushFailureKind } from './words.js';
import { CHANGING, MAX_TENANT_SYNC, type DryRun } from '../tenant-actions.js';
import { adminPage, NoticeItemText, type ConsoleContext, type Notice, type NoticeItem } from './console.js';

// "Sync now" and "Sync all out of step" in two steps: this page shows the dry run (what a push
// would do to each user, read from the tenant just now) and asks to go on; after the pushes the
// tenant page says what was done, read back from the audit entry.

/** What a push did (or would do) to one user, in a sentence; a failure's own text folded away. */
export function pushItem(
  context: ConsoleContext,
  name: string,
  outcome: PushOutcome,
  error?: string | null,
): NoticeItem {
  if (outcome === 'failed') {
    const why = context.t(`admin.tenant.pushFailure.${pushFailureKind(error ?? '')}` as MessageKey);
    return {
      text: context.t('admin.tenant.push.failed', { name, error: why }),
      ...(error ? { detail: { label: context.t('admin.syncError.details'), text: error } } : {}),
    };
  }
  return { text: context.t(`admin.tenant.push.${outcome}` as MessageKey, { name, error: '' }) };
}

export function tenantConfirmPage(
  context: ConsoleContext,
  target: { upn: string } | { all: true },
  run: DryRun,
): string {
  const { t } = context;
  const name = (report: PushReport) => run.names[report.upn] ?? report.upn;
  const changing = run.reports.filter((r) => CHANGING.includes(r.outcome));
  const title =
    'upn' in target
      ? t('admin.tenant.confirm.titleOne', { name: run.reports[0] ? name(run.reports[0]) : target.upn })
      : t('admin.tenant.confirm.titleAll');
  return adminPage(
    context,
    'tenant',
    title,
    <>
      <h1>{title}</h1>
      <p>{t('admin.tenant.confirm.intro')}</p>
      {run.total > run.reports.length && (
        <p class="notice notice-info">{t('admin.tenant.confirm.more', { max: MAX_TENANT_SYNC, n: run.total })}</p>
      )}
      <ul class="dry-run">
        {run.reports.map((report) => (
          <li data-upn={report.upn} data-outcome={report.outcome}>
            <NoticeItemText item={pushItem(context, name(report), report.outcome, report.error)} />
          </li>
        ))}
      </ul>
      {changing.length > 0 ? (
        <form method="post" action="/admin/tenant/sync">
          <input type="hidden" name="_csrf" value={context.csrfToken} />
          {changing.map((report) => (
            <input type="hidden" name="upn" value={report.upn} />
          ))}
          <div class="buttons">
            <button type="submit" id="confirm-sync">
              {t('admin.tenant.confirm.go', { n: changing.length })}
            </button>
            <a href="/admin/tenant">{t('admin.tenant.confirm.back')}</a>
          </div>
        </form>
      ) : (
        <>
          <p class="notice notice-info" role="status">
            {run.reports.some((r) => r.outcome === 'failed')
              ? t('admin.tenant.confirm.nothingReadable')
              : t('admin.tenant.confirm.nothing')}
          </p>
          <p>
            <a href="/admin/tenant">{t('admin.tenant.confirm.back')}</a>
          </p>
        </>
      )}
    </>,
  );
}

interface SyncedDetail {
  tenant?: boolean;
  results?: Array<{ upn: string; name?: string; outcome: PushOutcome; error?: string }>;
}

/** What the confirmed pushes did, one sentence per user, read back from their audit entry. */
export function tenantSyncNotice(context: ConsoleContext, entry: AuditEntry): Notice | undefined {
  const detail = entry.detail as SyncedDetail;
  if (!detail.tenant || !Array.isArray(detail.results)) return undefined;
  const results = detail.results;
  const synced = results.filter((r) => r.outcome === 'synced' || r.outcome === 'removed').length;
  const failed = results.filter((r) => r.outcome === 'failed').length;
  return {
    kind: failed > 0 ? 'error' : 'ok',
    text: context.t('admin.tenant.notice.synced', { synced, failed, other: results.length - synced - failed }),
    items: results.map((r) => pushItem(context, r.name ?? r.upn, r.outcome, r.error)),
  };
}
