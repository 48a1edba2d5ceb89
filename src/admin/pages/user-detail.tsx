import { PLACEHOLDER_PATH } from '../../sites/placeholder.js';
import { pictureTimeFrom } from '../../sites/library.js';
import type { PageContext } from '../../web/layout.js';
import { isOutOfStep } from '../../sync/state.js';
import type { UserDetail } from '../actions.js';
import { foldHistory } from './history.js';
import { DisabledBadge, Etag, OutcomeBadge, StateBadge, stateText, SyncError, triggerText } from './words.js';
import { adminPage, formatTime, mailPhoto, NoticeBox, siteRendition, type Notice } from './console.js';

export function userDetailPage(
  context: PageContext,
  detail: UserDetail,
  options: { operatorSync: boolean; emailOn?: boolean; notice?: Notice | undefined },
): string {
  const { t } = context;
  const upn = encodeURIComponent(detail.upn);
  // "3.2 ms" in English, "3,2 ms" in Estonian.
  const duration = new Intl.NumberFormat(context.locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  return adminPage(
    context,
    'users',
    detail.displayName,
    <>
      <h1>{t('admin.detail.title', { name: detail.displayName })}</h1>
      <NoticeBox notice={options.notice} />
      <p>{detail.upn}</p>
      {!detail.enabled && (
        <p class="warning" id="account-disabled">
          <DisabledBadge context={context} />{' '}
          {t('admin.detail.disabled', { command: `photosync users enable ${detail.upn}` })}
        </p>
      )}
      <p class="state">
        <StateBadge context={context} state={detail.state} /> {stateText(t, detail.state)}{' '}
        <span class="muted">{t('admin.detail.state', { since: formatTime(context, detail.since) })}</span>
      </p>
      <div class="photos">
        <figure>
          {detail.mail ? (
            <img class="large" src={mailPhoto(detail.upn)} alt={t('admin.detail.mailMaster')} />
          ) : (
            <Placeholder alt={t('admin.detail.noMailPhoto')} />
          )}
          <figcaption>
            {t('admin.detail.mailMaster')}
            <br />
            {detail.mail ? (
              <>
                <Etag context={context} value={detail.mail.etag} /> · {detail.mail.side}px ·{' '}
                {formatTime(context, detail.mail.changedAt)}
              </>
            ) : (
              <strong>{t('admin.detail.noMailPhoto')}</strong>
            )}
          </figcaption>
        </figure>
        <figure>
          {detail.directoryPhoto ? (
            <img class="large" src={`/admin/photos/${upn}/directory`} alt={t('admin.detail.directoryPhoto')} />
          ) : (
            <Placeholder alt={t('admin.detail.noDirectoryPhoto')} />
          )}
          <figcaption>
            {t('admin.detail.directoryPhoto')}
            <br />
            {/* Said only of a photo there is: the placeholder's own caption is that there is none. */}
            <strong>
              {t(detail.directoryPhoto ? 'admin.detail.directoryNotUsed' : 'admin.detail.noDirectoryPhoto')}
            </strong>
          </figcaption>
        </figure>
      </div>
      <h2>{t('admin.detail.renditions')}</h2>
      {detail.renditions.length === 0 ? (
        <figure class="no-renditions">
          <Placeholder alt="" side={72} />
          <figcaption>{t('admin.detail.noRenditions')}</figcaption>
        </figure>
      ) : (
        <div class="photos">
          {detail.renditions.map((r) => (
            <figure>
              <img src={siteRendition(detail.upn, r.size)} alt={r.size} width={r.side} height={r.side} />
              <figcaption>
                {r.size} · {r.side}px · <Etag context={context} value={r.etag} />
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
                {name === 'SPS-PictureTimestamp' && value !== '' && (
                  <span class="muted"> · {formatTime(context, pictureTimeFrom(value, Infinity) ?? null)}</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <DetailActions
        context={context}
        detail={detail}
        operatorSync={options.operatorSync}
        emailOn={options.emailOn ?? false}
      />
      <h2>{t('admin.detail.prompts')}</h2>
      {detail.prompts.length === 0 ? (
        <p>{t('admin.detail.noPrompts')}</p>
      ) : (
        <ul>
          {detail.prompts.map((p) => (
            <li>
              {formatTime(context, p.promptedAt)} · {t('admin.detail.promptedBy', { upn: p.promptedBy })}
              {p.mail && (
                <span class={`mail ${p.mail.status}`}>
                  {' · '}
                  {t(`admin.detail.mail.${p.mail.status}`, {
                    tries: p.mail.tries,
                    next: p.mail.nextTryAt === null ? '' : formatTime(context, p.mail.nextTryAt),
                    at: p.emailedAt === null ? '' : formatTime(context, p.emailedAt),
                  })}
                  {p.mail.status !== 'sent' && p.mail.lastError && ` (${p.mail.lastError})`}
                </span>
              )}
              {!p.mail && p.emailedAt !== null && ` · ${t('admin.detail.emailed')} ${formatTime(context, p.emailedAt)}`}
              {!p.mail && p.emailError && ` · ${p.emailError}`}
              {p.resolvedAt !== null && ` · ${t('admin.detail.resolved')} ${formatTime(context, p.resolvedAt)}`}
            </li>
          ))}
        </ul>
      )}
      <h2>{t('admin.detail.history')}</h2>
      {detail.attemptsTotal > detail.attempts.length && (
        <p>{t('admin.detail.latestAttempts', { shown: detail.attempts.length, total: detail.attemptsTotal })}</p>
      )}
      {detail.attempts.length === 0 ? (
        <p>{t('admin.detail.noAttempts')}</p>
      ) : (
        <table class="history stack" role="table">
          <thead role="rowgroup">
            <tr role="row">
              <th role="columnheader">{t('admin.detail.when')}</th>
              <th role="columnheader">{t('admin.detail.trigger')}</th>
              <th role="columnheader">{t('admin.detail.outcome')}</th>
              <th role="columnheader">{t('admin.detail.duration')}</th>
              <th role="columnheader">ETag</th>
            </tr>
          </thead>
          <tbody role="rowgroup">
            {foldHistory(detail.attempts).map(({ attempt: a, count, firstAt }) => (
              <tr data-outcome={a.outcome} data-count={count} role="row">
                <td data-label={t('admin.detail.when')} role="cell">
                  {count > 1
                    ? `${formatTime(context, firstAt)} – ${t('admin.history.repeated', { n: count, last: formatTime(context, a.startedAt) })}`
                    : formatTime(context, a.startedAt)}
                </td>
                <td data-label={t('admin.detail.trigger')} role="cell">
                  {triggerText(t, a.trigger)}
                </td>
                <td data-label={t('admin.detail.outcome')} role="cell">
                  <OutcomeBadge context={context} outcome={a.outcome} />
                  {a.checks > 1 && (
                    <>
                      <br />
                      <small>
                        {t('admin.detail.checks', { count: a.checks, last: formatTime(context, a.lastAt) })}
                      </small>
                    </>
                  )}
                  {a.error && <SyncError context={context} text={a.error} />}
                </td>
                <td data-label={t('admin.detail.duration')} role="cell">{`${duration.format(a.durationMs)} ms`}</td>
                <td data-label="ETag" role="cell">
                  <Etag context={context} value={a.etagBefore} /> → <Etag context={context} value={a.etagAfter} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>,
  );
}

/** The sites' person placeholder, where a photo is missing. */
function Placeholder(props: { alt: string; side?: number }) {
  const side = props.side ?? 150;
  return (
    <img class="placeholder" src={PLACEHOLDER_PATH} alt={props.alt} width={side} height={side} data-placeholder="" />
  );
}

/** "Ask to sync" only where it can help, with a warning when a request is already open. */
function DetailActions(props: { context: PageContext; detail: UserDetail; operatorSync: boolean; emailOn: boolean }) {
  const { context, detail } = props;
  const { t } = context;
  const canAsk = isOutOfStep(detail.state);
  const open = detail.prompts.find((p) => p.resolvedAt === null);
  if (!canAsk && !props.operatorSync) {
    return (
      <p class="hint" id="cannot-prompt">
        {t('admin.detail.cannotPrompt', { reason: stateText(t, detail.state) })}
      </p>
    );
  }
  return (
    <form method="post" action="/admin/prompts" class="buttons">
      <input type="hidden" name="_csrf" value={context.csrfToken} />
      <input type="hidden" name="upn" value={detail.upn} />
      <input type="hidden" name="back" value="detail" />
      {canAsk ? (
        <>
          {open && (
            <p class="warning" id="asked-before">
              {t(props.emailOn ? 'admin.detail.askedBefore' : 'admin.detail.askedBeforeNoMail', {
                date: formatTime(context, open.promptedAt),
                upn: open.promptedBy,
              })}
            </p>
          )}
          <button type="submit" aria-describedby={open ? 'asked-before' : undefined}>
            {t('admin.detail.prompt')}
          </button>
        </>
      ) : (
        <p class="hint" id="cannot-prompt">
          {t('admin.detail.cannotPrompt', { reason: stateText(t, detail.state) })}
        </p>
      )}
      {props.operatorSync && (
        <button type="submit" formaction="/admin/sync" class="secondary">
          {t('admin.detail.sync')}
        </button>
      )}
    </form>
  );
}
