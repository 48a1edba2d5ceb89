import { COMMAND_LINE, recordAudit } from '../../admin/audit.js';
import { tenantSyncAudit } from '../../admin/tenant-actions.js';
import { allPassed, runChecks } from '../../m365/check.js';
import { mapLimit } from '../../m365/concurrency.js';
import { createM365Connection, type M365Connection } from '../../m365/connection.js';
import { lookupUser } from '../../m365/graph.js';
import { TENANT_STATE_LABELS, type TenantState } from '../../m365/model.js';
import { pushTenantUser, type PushReport } from '../../m365/push.js';
import { ScanStoppedError, scanTenant, type ScanReport } from '../../m365/scan.js';
import { ensureTenantUser, findTenantUser, listTenantUsers } from '../../m365/users.js';
import type { Services } from '../../services.js';
import { OUT_OF_STEP_STATES } from '../../sync/state.js';
import type { CliWriter, CommandHandler } from '../command.js';
import { CliError, counted, EXIT_BUSY, EXIT_INCOMPLETE, formatTime, table, UsageError } from '../output.js';
import { createProgress } from '../progress.js';

// photosync m365 check | scan [--json] | sync <upn> | sync --all-out-of-step [--dry-run]

interface M365Flags {
  json: boolean;
  allOutOfStep: boolean;
  dryRun: boolean;
}

/** States a push can fix: known to be out of step, or pushes failing. */
const OUT_OF_STEP: readonly TenantState[] = OUT_OF_STEP_STATES;

export const m365Check: CommandHandler = async ({ services, print, io }) => {
  const s = await services();
  return check(connect(s, io.stderr), print);
};

export const m365Scan: CommandHandler = async ({ services, flag, print, io }) => {
  const s = await services();
  return scan(s, connect(s, io.stderr), flag('json'), print, io.stderr);
};

export const m365Sync: CommandHandler = async ({ args: [upn], services, flag, print, io }) => {
  const s = await services();
  const flags = { json: false, allOutOfStep: flag('all-out-of-step'), dryRun: flag('dry-run') };
  return sync(s, connect(s, io.stderr), upn, flags, print, io.stderr);
};

/** A scan stopped by Ctrl-C: the shell's code for a process ended by SIGINT. */
const EXIT_STOPPED = 130;

function connect(services: Services, stderr: CliWriter): M365Connection {
  const settings = services.config.m365;
  if (!settings) {
    throw new CliError(
      'Connect mode is not set up: set PHOTOSYNC_M365_TENANT, PHOTOSYNC_M365_CLIENT_ID, PHOTOSYNC_M365_CERTIFICATE and ' +
        'PHOTOSYNC_M365_SHAREPOINT_URL (docs/M365.md explains each).',
    );
  }
  const connection = createM365Connection(settings, services.log);
  // A throttled tenant can keep a command waiting for minutes: it says so rather than sit silent.
  connection.throttled.onLongWait = (ms) =>
    stderr.write(`photosync: Microsoft 365 is throttling requests; waiting ${Math.ceil(ms / 1000)} s as it asked.\n`);
  return connection;
}

async function check(connection: M365Connection, print: (text: string) => void): Promise<number> {
  const results = await runChecks(connection);
  for (const result of results) {
    const mark = result.status === 'ok' ? '✓' : result.status === 'failed' ? '✗' : '–';
    print(`${mark} ${result.name}${result.detail ? `: ${result.detail}` : ''}`);
  }
  return allPassed(results) ? 0 : 1;
}

async function scan(
  services: Services,
  connection: M365Connection,
  json: boolean,
  print: (text: string) => void,
  progress: CliWriter,
): Promise<number> {
  let bar: ReturnType<typeof createProgress> | undefined;
  // Ctrl-C (or a service manager's SIGTERM) ends the scan at its next commit, what it read kept and
  // its lease given up, so the next scan takes it up at once; a second Ctrl-C ends the process.
  const stopping = new AbortController();
  const stop = () => {
    progress.write('\nphotosync: stopping the scan at its next commit (Ctrl-C again to end at once)…\n');
    stopping.abort();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let report: ScanReport;
  try {
    report = await scanTenant(connection, services.database.db, {
      signal: stopping.signal,
      onProgress: ({ done, total }) => {
        // The total comes with the listing's first page: no bar before it (nor without it, a bar of 0).
        if (total === null && done === 0) return;
        bar ??= createProgress(total ?? 0, 'Scanning the tenant', progress);
        bar.update(total === null ? done : Math.min(done, total));
      },
    });
  } catch (error) {
    if (!(error instanceof ScanStoppedError)) throw error;
    progress.write(`photosync: ${error.message}\n`);
    return EXIT_STOPPED;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  bar?.finish();
  const users = await listTenantUsers(services.database.db);
  // Users the scan could not read keep an earlier state; the run says so and exits 75, as a script
  // that runs it again on 75 would want.
  const exitCode = report.scan.usersUnread > 0 ? EXIT_INCOMPLETE : 0;
  if (json) {
    const { scan, resumed, summary, unread } = report;
    print(JSON.stringify({ scan, resumed, summary, unread, users }, null, 2));
    return exitCode;
  }
  const rows = users.map((u) => [
    u.upn,
    TENANT_STATE_LABELS[u.state ?? 'unknown'],
    u.exchangeEtag || '-',
    formatTime(u.stateSince),
    u.stateReason ?? '',
  ]);
  const summary = Object.entries(report.summary)
    .map(([state, n]) => `${n} ${TENANT_STATE_LABELS[state as TenantState]}`)
    .join(', ');
  print(table(['USER', 'STATE', 'EXCHANGE ETAG', 'SINCE', 'WHY'], rows));
  print('');
  print(`${counted(users.length, 'user')}: ${summary || 'none'}.`);
  print(
    `${report.resumed ? 'Resumed an interrupted scan. ' : ''}This run: ${report.graphRequests} Graph requests, ` +
      `${report.sharePointRequests} SharePoint requests, ${report.imageBytes} bytes of pictures read` +
      (connection.throttled.count > 0
        ? `, throttled ${connection.throttled.count} times (kept waiting ${Math.round(connection.throttled.totalMs / 1000)} s).`
        : '.'),
  );
  if (report.scan.usersUnread > 0) {
    print(
      `Incomplete: ${counted(report.scan.usersUnread, 'user')} could not be read` +
        (report.scan.throttledWaits > 0 ? ' while Microsoft 365 throttled the scan' : '') +
        '. Each keeps the state an earlier scan found (unknown if none did); run photosync m365 scan again to read them.',
    );
    for (const { upn, reason } of report.unread.slice(0, UNREAD_SHOWN)) print(`  ${upn}: ${reason}`);
    if (report.unread.length > UNREAD_SHOWN) print(`  … and ${report.unread.length - UNREAD_SHOWN} more.`);
  }
  return exitCode;
}

/** Users named after an incomplete scan; the rest are counted (a throttled tenant may leave thousands). */
const UNREAD_SHOWN = 10;

async function sync(
  services: Services,
  connection: M365Connection,
  upn: string | undefined,
  flags: M365Flags,
  print: (text: string) => void,
  progress: CliWriter,
): Promise<number> {
  if (upn === undefined && !flags.allOutOfStep) {
    throw new UsageError('Name one user (photosync m365 sync <upn>) or use --all-out-of-step.');
  }
  if (upn !== undefined && flags.allOutOfStep) {
    throw new UsageError('Name one user (photosync m365 sync <upn>) or use --all-out-of-step, not both.');
  }
  const db = services.database.db;
  const options = { trigger: 'admin' as const, sizes: services.syncSettings().renditionSizes, dryRun: flags.dryRun };
  const deps = { db, lock: services.tenantLock };
  let users;
  if (upn !== undefined) {
    let user = await findTenantUser(db, upn);
    if (!user) {
      const found = await lookupUser(connection.http, connection.settings.graphUrl, upn);
      if (!found) throw new CliError(`The tenant has no user ${upn}.`);
      await ensureTenantUser(db, found);
      user = (await findTenantUser(db, found.id))!;
    }
    users = [user];
  } else {
    users = await listTenantUsers(db, OUT_OF_STEP);
    if (users.length === 0) {
      print('Nobody is out of step as of the last scan (run photosync m365 scan first to find them).');
      return 0;
    }
  }
  const bar =
    users.length > 1 ? createProgress(users.length, flags.dryRun ? 'Deciding' : 'Pushing', progress) : undefined;
  let finished = 0;
  const reports = await mapLimit(users, 4, async (user) => {
    const report = await pushTenantUser(connection, deps, user, options);
    bar?.update(++finished);
    return report;
  });
  bar?.finish();
  // What was pushed, as the console's tenant sync records it; a dry run changed nothing.
  if (!flags.dryRun) {
    await recordAudit(db, COMMAND_LINE, 'operator_sync', tenantSyncAudit(users, reports));
  }
  for (const report of reports) print(describePush(report));
  const failed = reports.filter((r) => r.outcome === 'failed').length;
  // Not pushed and not recorded: another push of the same user held it (from another process).
  const busy = reports.filter((r) => r.outcome === 'busy').map((r) => r.upn);
  if (reports.length > 1) {
    print(`${counted(reports.length, 'user')}, ${failed} failed${busy.length > 0 ? `, ${busy.length} busy` : ''}.`);
  }
  if (busy.length > 0) {
    const again = upn ?? `--all-out-of-step${flags.dryRun ? ' --dry-run' : ''}`;
    print(
      `Busy, nothing done for them (another push of the same user was still running): ${busy.join(', ')}. ` +
        `Run photosync m365 sync ${again} again.`,
    );
  }
  return failed > 0 ? 1 : busy.length > 0 ? EXIT_BUSY : 0;
}

function describePush(report: PushReport): string {
  const what: Record<PushReport['outcome'], string> = {
    synced: `pushed ${report.etagAfter ?? ''} into SharePoint`,
    removed: 'set SharePoint back to the placeholder (the Exchange photo was removed)',
    unchanged: 'already in step, nothing read or written',
    no_photo: 'no Exchange photo, SharePoint shows the placeholder: nothing to do',
    no_mailbox: 'no Exchange mailbox: SharePoint never takes this user’s photo from Exchange',
    failed: `failed: ${report.error ?? 'unknown error'}`,
    would_push: 'would push the Exchange photo into SharePoint',
    would_remove: 'would set SharePoint back to the placeholder',
    recently_checked: 'checked recently',
    backing_off: 'backing off after a failure',
    busy: 'another push of this user is running',
  };
  return `${report.upn}: ${what[report.outcome]} (${report.durationMs.toFixed(0)} ms)`;
}
