import type { TenantState } from '../../m365/model.js';
import { DETAILED_REASONS, TENANT_STATES } from '../../m365/model.js';
import type { Scan } from '../../m365/scans.js';
import type { TenantUsersPage, TenantUsersQuery } from '../../m365/tenant-view.js';
import type { TenantUserRecord } from '../../m365/users.js';
import type { MessageKey } from '../../web/messages/en.js';
import { OUT_OF_STEP_STATES } from '../../sync/state.js';
import { adminPage, formatTime, NoticeBox, waited, type ConsoleContext, type Notice } from './console.js';
import { FilterForm } from './filters.js';
import { Etag, LastAttempt, StateBadge } from './words.js';

// Connect mode's view of the Microsoft 365 tenant: the last scan (its progress and what it cost),
// the users per state, and every user with their state, filtered and searched like the users page,
// each with "Sync now"; the actions go to a confirmation page that shows the dry run first.

export interface TenantView {
  scan: Scan | undefined;
  counts: Record<TenantState, number>;
  page: TenantUsersPage;
  operatorSync: boolean;
  /** Minutes between scheduled scans; undefined = off. */
  scheduleMinutes: number | undefined;
}

export const tenantLink = (query: TenantUsersQuery) => {
  const params = new URLSearchParams({
    ...(query.state ? { state: query.state } : {}),
    ...(query.search ? { search: query.search } : {}),
    ...(query.after ? { after: query.after } : {}),
  }).toString();
  return params ? `/admin/tenant?${params}` : '/admin/tenant';
};

export const tenantSyncLink = (upn: string) => `/admin/tenant/sync?upn=${encodeURIComponent(upn)}`;

function ScanStatus({
  context,
  scan,
  scheduleMinutes,
}: {
  context: ConsoleContext;
  scan: Scan | undefined;
  scheduleMinutes: number | undefined;
}) {
  const { t } = context;
  const schedule =
    scheduleMinutes === undefined
      ? t('admin.tenant.scan.scheduleOff')
      : t('admin.tenant.scan.scheduleOn', { minutes: scheduleMinutes });
  if (!scan) {
    return (
      <>
        <p data-scan="none">{t('admin.tenant.scan.none')}</p>
        <p class="hint">{schedule}</p>
      </>
    );
  }
  const total = scan.usersTotal ?? scan.usersDone;
  return (
    <>
      {scan.status === 'running' && (
        <>
          <p data-scan="running">
            {t('admin.tenant.scan.running', {
              started: formatTime(context, scan.startedAt),
              done: scan.usersDone,
              total,
            })}
          </p>
          <progress
            max={Math.max(total, 1)}
            value={Math.min(scan.usersDone, total)}
            aria-label={t('admin.tenant.scan.progress')}
          >
            {scan.usersDone} / {total}
          </progress>
          <p class="hint">{t('admin.tenant.scan.runningResume')}</p>
        </>
      )}
      {scan.status === 'done' && (
        <p data-scan="done">
          {t('admin.tenant.scan.done', {
            finished: formatTime(context, scan.finishedAt),
            users: scan.usersDone - scan.usersUnread,
            graph: scan.graphRequests,
          })}
        </p>
      )}
      {scan.usersUnread > 0 && (
        <p class="alert" role="alert" data-scan="unread">
          {t('admin.tenant.scan.unread', { users: scan.usersUnread })}
        </p>
      )}
      {scan.throttledWaits > 0 && (
        <p data-scan="throttled">
          {t('admin.tenant.scan.throttled', {
            times: scan.throttledWaits,
            seconds: Math.round(scan.throttledMs / 1000),
          })}
        </p>
      )}
      {scan.status === 'failed' && (
        <p class="alert" role="alert" data-scan="failed">
          {t('admin.tenant.scan.failed', { started: formatTime(context, scan.startedAt), error: scan.error ?? '' })}
        </p>
      )}
      <p class="hint">{schedule}</p>
    </>
  );
}

/** Starts a scan in the server, in the background; the server says so, or that one is running already. */
function ScanNow({ context }: { context: ConsoleContext }) {
  const { t } = context;
  return (
    <form method="post" action="/admin/tenant/scan" class="buttons" id="scan-now">
      <input type="hidden" name="_csrf" value={context.csrfToken} />
      <button type="submit" aria-describedby="scan-now-hint">
        {t('admin.tenant.scan.now')}
      </button>
      <span class="hint" id="scan-now-hint">
        {t('admin.tenant.scan.nowHint')}
      </span>
    </form>
  );
}

/**
 * Why the user is in their state, in the reader's language; where the reason has a technical
 * detail (an error, what could not be read), the stored sentence is one click away.
 */
function Reason({ context, user }: { context: ConsoleContext; user: TenantUserRecord }) {
  const { t } = context;
  const code = user.stateReasonCode;
  if (code === null) return <span class="muted">{user.stateReason ?? ''}</span>;
  return (
    <div class="reason" data-reason={code}>
      <span class="muted">{t(`admin.tenant.reason.${code}` as MessageKey)}</span>
      {DETAILED_REASONS.has(code) && user.stateReason && (
        <details>
          <summary>{t('admin.syncError.details')}</summary>
          <code>{user.stateReason}</code>
        </details>
      )}
    </div>
  );
}

export function tenantPage(
  context: ConsoleContext,
  query: TenantUsersQuery,
  view: TenantView,
  notice?: Notice | undefined,
): string {
  const { t } = context;
  const outOfStep = OUT_OF_STEP_STATES.reduce((n, s) => n + view.counts[s], 0);
  const nextHref = view.page.next ? tenantLink({ ...query, after: view.page.next }) : undefined;
  return adminPage(
    context,
    'tenant',
    t('admin.tenant.title'),
    <>
      <h1>{t('admin.tenant.title')}</h1>
      <p>{t('admin.tenant.intro')}</p>
      <NoticeBox notice={notice} />
      <h2>{t('admin.tenant.scan.title')}</h2>
      <ScanStatus context={context} scan={view.scan} scheduleMinutes={view.scheduleMinutes} />
      <ScanNow context={context} />
      <h2>{t('admin.tenant.summary')}</h2>
      <table class="summary">
        <thead>
          <tr>
            <th>{t('admin.overview.state')}</th>
            <th>{t('admin.overview.users')}</th>
          </tr>
        </thead>
        <tbody>
          {TENANT_STATES.map((state) => (
            <tr data-count={state}>
              <td>
                <a href={tenantLink({ state })}>
                  <StateBadge context={context} state={state} />
                </a>
              </td>
              <td>{view.counts[state]}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {view.operatorSync ? (
        outOfStep > 0 && (
          <p class="buttons">
            <a class="button" href="/admin/tenant/sync?all=1" id="sync-all">
              {t('admin.tenant.syncAll', { n: outOfStep })}
            </a>
          </p>
        )
      ) : (
        <p class="hint">{t('admin.tenant.syncOff')}</p>
      )}
      <h2>{t('admin.users.title')}</h2>
      <FilterForm
        context={context}
        action="/admin/tenant"
        states={TENANT_STATES}
        search={query.search}
        state={query.state}
      />
      {view.page.users.length === 0 ? (
        <p>{t('admin.users.empty')}</p>
      ) : (
        <table class="stack" role="table">
          <thead role="rowgroup">
            <tr role="row">
              <th role="columnheader">{t('admin.users.user')}</th>
              <th role="columnheader">{t('admin.users.state')}</th>
              <th role="columnheader">{t('admin.users.since')}</th>
              <th role="columnheader">{t('admin.tenant.why')}</th>
              <th role="columnheader">{t('admin.tenant.exchangeEtag')}</th>
              <th role="columnheader">{t('admin.tenant.lastPush')}</th>
              {view.operatorSync && <th role="columnheader">{t('admin.tenant.action')}</th>}
            </tr>
          </thead>
          <tbody role="rowgroup">
            {view.page.users.map((u) => (
              <tr data-upn={u.upn} role="row">
                <td role="cell">
                  {u.displayName}
                  <br />
                  <span class="muted">{u.upn}</span>
                </td>
                <td class="state" data-label={t('admin.users.state')} role="cell">
                  <StateBadge context={context} state={u.state ?? 'unknown'} />
                </td>
                <td title={formatTime(context, u.stateSince)} data-label={t('admin.users.since')} role="cell">
                  {waited(context, u.stateSince)}
                </td>
                <td data-label={t('admin.tenant.why')} role="cell">
                  <Reason context={context} user={u} />
                </td>
                <td data-label={t('admin.tenant.exchangeEtag')} role="cell">
                  <Etag context={context} value={u.exchangeEtag || null} />
                </td>
                <td data-label={t('admin.tenant.lastPush')} role="cell">
                  <LastAttempt
                    context={context}
                    at={u.lastAttemptAt}
                    outcome={u.lastOutcome}
                    error={u.lastError}
                    tenant
                  />
                </td>
                {view.operatorSync && (
                  <td data-label={t('admin.tenant.action')} role="cell">
                    <a href={tenantSyncLink(u.upn)} aria-label={t('admin.tenant.syncNowFor', { name: u.displayName })}>
                      {t('admin.tenant.syncNow')}
                    </a>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p class="buttons">
        {query.after && <a href={tenantLink({ ...query, after: undefined })}>{t('admin.users.first')}</a>}
        {nextHref && (
          <a href={nextHref} rel="next">
            {t('admin.users.next')}
          </a>
        )}
      </p>
    </>,
  );
}
