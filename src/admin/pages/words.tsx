import type { SyncOutcome, SyncTrigger } from '../../sync/history.js';
import type { SyncStateName } from '../../sync/state.js';
import type { PageContext } from '../../web/layout.js';
import { formatTime } from './console.js';
import type { MessageKey } from '../../web/messages/en.js';

// What the console says instead of machine codes: a sentence for every state, outcome, trigger
// and sync error, and badges that carry an icon and a word as well as a colour.

type Tone = 'ok' | 'warn' | 'bad' | 'neutral';

/** photosync's own states, and connect mode's `unknown` (a tenant user nothing can judge yet). */
export type ShownState = SyncStateName | 'unknown';

const STATE_LOOK: Record<ShownState, { tone: Tone; icon: string }> = {
  in_step: { tone: 'ok', icon: '✓' },
  changed: { tone: 'warn', icon: '↻' },
  never_synced: { tone: 'warn', icon: '○' },
  no_photo: { tone: 'neutral', icon: '–' },
  no_mailbox: { tone: 'neutral', icon: '∅' },
  failing: { tone: 'bad', icon: '✕' },
  unknown: { tone: 'neutral', icon: '?' },
};

const OUTCOME_LOOK: Record<SyncOutcome, { tone: Tone; icon: string }> = {
  synced: { tone: 'ok', icon: '✓' },
  removed: { tone: 'ok', icon: '✓' },
  unchanged: { tone: 'neutral', icon: '=' },
  no_photo: { tone: 'neutral', icon: '–' },
  no_mailbox: { tone: 'neutral', icon: '∅' },
  recently_checked: { tone: 'neutral', icon: '⏱' },
  backing_off: { tone: 'warn', icon: '⏸' },
  busy: { tone: 'warn', icon: '⏳' },
  failed: { tone: 'bad', icon: '✕' },
};

export const stateLabel = (t: PageContext['t'], state: ShownState) => t(`admin.state.${state}` as MessageKey);
export const stateText = (t: PageContext['t'], state: ShownState) => t(`admin.stateText.${state}` as MessageKey);
/** An outcome's word; `not_found`: an operator's sync reached a user removed since they were chosen. */
export const outcomeLabel = (t: PageContext['t'], outcome: SyncOutcome | 'not_found') =>
  t(`admin.outcome.${outcome}` as MessageKey);
export const outcomeText = (t: PageContext['t'], outcome: SyncOutcome) =>
  t(`admin.outcomeText.${outcome}` as MessageKey);
export const triggerText = (t: PageContext['t'], trigger: SyncTrigger) => t(`admin.trigger.${trigger}` as MessageKey);

function Badge(props: { tone: Tone; icon: string; label: string; title: string; data: Record<string, string> }) {
  return (
    <span class={`badge badge-${props.tone}`} title={props.title} {...props.data}>
      <span class="badge-icon" aria-hidden="true">
        {props.icon}
      </span>
      {props.label}
    </span>
  );
}

/** The state as a badge (icon, word, colour) with its sentence on hover. */
export function StateBadge({ context, state }: { context: PageContext; state: ShownState }) {
  const { t } = context;
  return (
    <Badge
      {...STATE_LOOK[state]}
      label={stateLabel(t, state)}
      title={stateText(t, state)}
      data={{ 'data-state': state }}
    />
  );
}

/** Beside the state, for a disabled account: whatever its state, the user cannot act on it. */
export function DisabledBadge({ context }: { context: PageContext }) {
  const { t } = context;
  return (
    <Badge
      tone="bad"
      icon="⊘"
      label={t('admin.state.disabled')}
      title={t('admin.stateText.disabled')}
      data={{ 'data-account': 'disabled' }}
    />
  );
}

export function OutcomeBadge({ context, outcome }: { context: PageContext; outcome: SyncOutcome }) {
  const { t } = context;
  return (
    <Badge
      {...OUTCOME_LOOK[outcome]}
      label={outcomeLabel(t, outcome)}
      title={outcomeText(t, outcome)}
      data={{ 'data-outcome': outcome }}
    />
  );
}

export type SyncErrorKind = 'image' | 'timeout' | 'storage' | 'other';

/** Which kind of trouble a sync's error text describes (libvips', the file system's, the database's). */
export function syncErrorKind(text: string): SyncErrorKind {
  if (/vips|jpe?g|png|webp|gif|heif|image|input buffer|unsupported|corrupt|premature end/i.test(text)) {
    return 'image';
  }
  if (/time(d)? ?out|ETIMEDOUT|too long/i.test(text)) return 'timeout';
  if (/ENOSPC|EACCES|EPERM|ENOENT|EROFS|disk|SQLITE|database|relation|connection/i.test(text)) return 'storage';
  return 'other';
}

/** Why a push to a Microsoft 365 tenant failed, as the reader is told it. */
export type PushFailureKind = 'gone' | 'unreachable' | 'refused' | 'throttled' | 'other';

export function pushFailureKind(error: string): PushFailureKind {
  // The push's own sentence for a user Graph no longer has (src/m365/push.ts).
  if (/is no longer in the tenant/.test(error)) return 'gone';
  if (
    /cannot be reached|did not answer|nothing answers|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|ENOTFOUND/i.test(
      error,
    )
  )
    return 'unreachable';
  if (/\b(401|403)\b|InvalidAuthenticationToken|Authorization_RequestDenied|AccessDenied|AADSTS|consent/i.test(error))
    return 'refused';
  if (/\b429\b|TooManyRequests|throttl/i.test(error)) return 'throttled';
  return 'other';
}

/**
 * A sync error in words; the raw text stays one click away for whoever reads the server's log.
 * `tenant`: a push to Microsoft 365 (connect mode), whose troubles are the tenant's answers.
 */
export function SyncError({ context, text, tenant }: { context: PageContext; text: string; tenant?: boolean }) {
  const { t } = context;
  const key = tenant ? `admin.tenant.pushFailure.${pushFailureKind(text)}` : `admin.syncError.${syncErrorKind(text)}`;
  return (
    <div class="sync-error">
      <p>{t(key as MessageKey)}</p>
      <details>
        <summary>{t('admin.syncError.details')}</summary>
        <code>{text}</code>
      </details>
    </div>
  );
}

/** Two overlapping squares, drawn (a symbol such as ⧉ is missing from many fonts). */
function CopyIcon() {
  return (
    <svg
      aria-hidden="true"
      width="16"
      height="16"
      viewBox="0 0 16 16"
      fill="none"
      stroke="currentColor"
      stroke-width="1.5"
    >
      <rect x="5.5" y="5.5" width="9" height="9" rx="1.5" />
      <path d="M10.5 3V2.5a1 1 0 0 0-1-1h-7a1 1 0 0 0-1 1v7a1 1 0 0 0 1 1H3" />
    </svg>
  );
}

/** An ETag shortened to its first characters; the full value on hover and behind a copy button. */
export function Etag({ context, value }: { context: PageContext; value: string | null }) {
  if (value === null) return <span>–</span>;
  const short = value.length > 10 ? `${value.slice(0, 8)}…` : value;
  return (
    <span class="etag">
      <code title={value}>{short}</code>
      <button
        type="button"
        class="copy"
        data-copy={value}
        data-copied={context.t('admin.etag.copied')}
        aria-label={`${context.t('admin.etag.copy')} ${value}`}
        title={context.t('admin.etag.copy')}
      >
        <CopyIcon />
      </button>
    </span>
  );
}

/** A table cell's content: the last sync attempt's outcome and time ("never" without one), and its error. */
export function LastAttempt({
  context,
  at,
  outcome,
  error,
  tenant,
}: {
  context: PageContext;
  at: number | null;
  outcome: string | null;
  error: string | null;
  /** A push to Microsoft 365 (connect mode). */
  tenant?: boolean;
}) {
  return (
    <>
      {at === null ? (
        context.t('admin.users.never')
      ) : (
        <>
          {outcome && <OutcomeBadge context={context} outcome={outcome as SyncOutcome} />}{' '}
          <span class="muted">{formatTime(context, at)}</span>
        </>
      )}
      {error && <SyncError context={context} text={error} tenant={tenant} />}
    </>
  );
}
