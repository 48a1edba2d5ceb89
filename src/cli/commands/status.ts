import { findUserByUpn } from '../../directory/users.js';
import type { Services } from '../../services.js';
import { renditionSpec } from '../../sites/library.js';
import { isOutOfStep, SYNC_STATE_LABELS, SYNC_STATES, type SyncStateName } from '../../sync/state.js';
import { listSyncStatus, type UserSyncStatus } from '../../sync/status.js';
import type { CommandHandler } from '../command.js';
import { CliError, counted, formatTime, table, UsageError } from '../output.js';

/** Which users to show: all, or those the options name. */
interface Narrowing {
  /** What the options chose, as the summary says it ("out of step", "in step, failing", a UPN). */
  label: string;
  keep(status: UserSyncStatus): boolean;
}

/**
 * Every user's state as a table with a summary, or as JSON with `--json`; `--out-of-step`,
 * `--state <name>` (repeatable) and `--user <upn>` narrow the rows, never the summary's counts.
 */
export const status: CommandHandler = async ({ services, flag, options, option, print }) => {
  const states = checkedStates(options('state'));
  const typed = option('user');
  const opened = await services();
  // The account name as the directory spells it, for the summary.
  const user = typed === undefined ? undefined : (await findUserByUpn(opened.database.db, typed))?.upn;
  if (typed !== undefined && user === undefined) throw new CliError(`There is no user ${typed}.`);
  print(await statusReport(opened, flag('json'), narrowingOf(flag('out-of-step'), states, user)));
};

function checkedStates(states: string[]): SyncStateName[] {
  for (const state of states) {
    if (!(SYNC_STATES as readonly string[]).includes(state)) {
      throw new UsageError(`"${state}" is not a sync state. The states are: ${SYNC_STATES.join(', ')}.`);
    }
  }
  return states as SyncStateName[];
}

function narrowingOf(outOfStep: boolean, states: SyncStateName[], user: string | undefined): Narrowing | undefined {
  const chosen = new Set(states);
  const parts: Narrowing[] = [];
  if (outOfStep) parts.push({ label: 'out of step', keep: (s) => isOutOfStep(s.state) });
  if (chosen.size > 0) {
    parts.push({
      label: SYNC_STATES.filter((s) => chosen.has(s))
        .map((s) => SYNC_STATE_LABELS[s])
        .join(', '),
      keep: (s) => chosen.has(s.state),
    });
  }
  if (user !== undefined) {
    const folded = user.toLowerCase();
    parts.push({ label: user, keep: (s) => s.upn.toLowerCase() === folded });
  }
  if (parts.length === 0) return undefined;
  return { label: parts.map((p) => p.label).join('; '), keep: (s) => parts.every((p) => p.keep(s)) };
}

async function statusReport(services: Services, json: boolean, narrowing: Narrowing | undefined): Promise<string> {
  const statuses = await listSyncStatus(
    services.database.db,
    services.config.publicUrl,
    renditionSpec(services.syncSettings().renditionSizes),
  );
  const shown = narrowing ? statuses.filter((s) => narrowing.keep(s)) : statuses;
  if (json) return JSON.stringify(shown, null, 2);
  const counts = new Map<string, number>();
  for (const s of statuses) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
  // A disabled user's pictures show the placeholder to everyone else, whatever the state says.
  const rows = shown.map((s) => [
    s.upn,
    s.enabled ? SYNC_STATE_LABELS[s.state] : `${SYNC_STATE_LABELS[s.state]}, account disabled`,
    s.mailEtag ?? '-',
    s.syncedEtag ?? '-',
    formatTime(s.mailChangedAt),
    formatTime(s.lastAttemptAt),
    // The error of the failure that makes the state; one of an earlier photo would read as this one's (--json keeps it).
    s.state === 'failing' ? (s.lastError ?? '') : '',
  ]);
  // Always in one order, those waiting for their action first, so runs compare at a glance.
  const order: readonly SyncStateName[] = ['failing', 'changed', 'never_synced', 'in_step', 'no_photo', 'no_mailbox'];
  const summary = order
    .filter((state) => counts.has(state))
    .map((state) => `${counts.get(state)} ${SYNC_STATE_LABELS[state]}`);
  const disabled = statuses.filter((s) => !s.enabled).length;
  const disabledNote =
    disabled === 0 ? '' : `; ${counted(disabled, 'account')} disabled (no sign-in; others see the placeholder)`;
  const shownNote = narrowing
    ? `\nShown: ${shown.length} of ${counted(statuses.length, 'user')} (${narrowing.label}).`
    : '';
  // The same photo, kept at other sizes than the settings now ask for: what the ETags cannot show.
  const resized = shown.some((s) => s.state === 'changed' && s.mailEtag !== null && s.mailEtag === s.syncedEtag);
  const resizedNote = resized
    ? '\n"Changed since last sync" with the same ETags: the rendition sizes were changed since; the next sync makes the pictures at the new sizes.'
    : '';
  return `${table(['USER', 'STATE', 'MAIL ETAG', 'SYNCED ETAG', 'MAIL CHANGED', 'LAST ATTEMPT', 'ERROR'], rows)}\n\n${counted(statuses.length, 'user')}: ${summary.join(', ') || 'none'}${disabledNote}.${shownNote}${resizedNote}`;
}
