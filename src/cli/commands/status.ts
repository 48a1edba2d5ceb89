import type { Services } from '../../services.js';
import { renditionSpec } from '../../sites/library.js';
import { SYNC_STATE_LABELS } from '../../sync/state.js';
import { listSyncStatus } from '../../sync/status.js';
import type { CommandHandler } from '../command.js';
import { formatTime, table } from '../output.js';

/** Every user's state as a table with a summary, or as JSON with `--json`. */
export const status: CommandHandler = async ({ services, flag, print }) => {
  print(await statusReport(await services(), flag('json')));
};

async function statusReport(services: Services, json: boolean): Promise<string> {
  const statuses = await listSyncStatus(
    services.database.db,
    services.config.publicUrl,
    renditionSpec(services.syncSettings().renditionSizes),
  );
  if (json) return JSON.stringify(statuses, null, 2);
  const counts = new Map<string, number>();
  for (const s of statuses) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
  // A disabled user's pictures show the placeholder to everyone else, whatever the state says.
  const rows = statuses.map((s) => [
    s.upn,
    s.enabled ? SYNC_STATE_LABELS[s.state] : `${SYNC_STATE_LABELS[s.state]}, account disabled`,
    s.mailEtag ?? '-',
    s.syncedEtag ?? '-',
    formatTime(s.mailChangedAt),
    formatTime(s.lastAttemptAt),
    s.lastError ?? '',
  ]);
  const summary = [...counts].map(([state, n]) => `${n} ${SYNC_STATE_LABELS[state as keyof typeof SYNC_STATE_LABELS]}`);
  const disabled = statuses.filter((s) => !s.enabled).length;
  const disabledNote =
    disabled === 0
      ? ''
      : `; ${disabled} ${disabled === 1 ? 'account' : 'accounts'} disabled (no sign-in; others see the placeholder)`;
  return `${table(['USER', 'STATE', 'MAIL ETAG', 'SYNCED ETAG', 'MAIL CHANGED', 'LAST ATTEMPT', 'ERROR'], rows)}\n\n${statuses.length} users: ${summary.join(', ') || 'none'}${disabledNote}.`;
}
