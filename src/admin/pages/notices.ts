import type { PageContext } from '../../web/layout.js';
import type { SyncOutcome } from '../../sync/history.js';
import type { MessageKey } from '../../web/messages/en.js';
import type { AuditEntry } from '../audit.js';
import type { Notice } from './console.js';

// What the console says after a request to sync: how many were asked, and for each person who was
// not, why (read back from the request's audit entry, so the page says what was really done).

const LISTED = 10;

interface PromptDetail {
  allOutOfStep?: boolean;
  users?: string[] | number;
  skipped?: Array<{ upn: string; name?: string; state: string }>;
  askedAgain?: string[] | number;
  /** Asking everyone: how many out of step were not asked, their accounts disabled. */
  disabled?: number;
}

export function promptNotice(context: PageContext, entry: AuditEntry): Notice {
  const { t } = context;
  const detail = entry.detail as PromptDetail;
  const asked = Array.isArray(detail.users) ? detail.users.length : Number(detail.users ?? 0);
  const skipped = detail.skipped ?? [];
  const items = skipped
    .slice(0, LISTED)
    .map((s) => t(`admin.skip.${s.state}` as MessageKey, { name: s.name ?? s.upn }));
  if (skipped.length > LISTED) items.push(t('admin.skip.more', { n: skipped.length - LISTED }));
  const again = detail.askedAgain;
  if (Array.isArray(again) && again.length > 0) items.push(t('admin.notice.askedAgain', { names: again.join(', ') }));
  if (typeof again === 'number' && again > 0) items.push(t('admin.notice.askedAgainCount', { n: again }));
  const disabled = Number(detail.disabled ?? 0);
  if (disabled > 0) items.push(t('admin.notice.disabledNotAsked', { n: disabled }));
  // Asking everyone when nobody is out of step: say why nobody was asked.
  const nobody = detail.allOutOfStep && disabled === 0 ? 'admin.notice.nobodyOutOfStep' : 'admin.notice.nothingToAsk';
  const text = asked === 0 ? t(nobody) : t('admin.notice.prompted', { n: asked });
  return { kind: asked === 0 ? 'info' : 'ok', text, items };
}

interface OperatorSyncDetail {
  results?: Array<{ upn: string; outcome: SyncOutcome | 'not_found' }>;
}

/** What the operator's sync did: how many were updated, failed or had nothing to do, and each person's outcome. */
export function operatorSyncNotice(context: PageContext, entry: AuditEntry): Notice | undefined {
  const { t } = context;
  const results = (entry.detail as OperatorSyncDetail).results;
  if (!Array.isArray(results)) return undefined;
  const synced = results.filter((r) => r.outcome === 'synced' || r.outcome === 'removed').length;
  // A user removed before their sync was not synced either: counted with the failures, named as removed.
  const failed = results.filter((r) => r.outcome === 'failed' || r.outcome === 'not_found').length;
  const items = results
    .slice(0, LISTED)
    .map((r) => t('admin.notice.syncedItem', { name: r.upn, outcome: t(`admin.outcome.${r.outcome}`) }));
  if (results.length > LISTED) items.push(t('admin.notice.syncedMore', { n: results.length - LISTED }));
  return {
    kind: failed > 0 ? 'error' : 'ok',
    text: t('admin.notice.synced', { synced, failed, other: results.length - synced - failed }),
    items,
  };
}
