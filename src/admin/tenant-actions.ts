import type { DirectoryUser } from '../directory/users.js';
import { forbidden, invalidInput, notFound } from '../errors.js';
import { mapLimit } from '../m365/concurrency.js';
import type { M365Connection } from '../m365/connection.js';
import { pushTenantUser, type PushOutcome, type PushReport } from '../m365/push.js';
import { usersInStates } from '../m365/tenant-view.js';
import { findTenantUser, type TenantUserRecord } from '../m365/users.js';
import type { Services } from '../services.js';
import { OUT_OF_STEP_STATES } from '../sync/state.js';
import { recordAudit } from './audit.js';

// What the console does to a Microsoft 365 tenant's users: first a dry run that reads each user's
// Exchange photo and SharePoint profile and says what a push would do, then, once the admin
// confirms, the pushes themselves (recorded in the sync history and the audit log).

/** Users one action works on at most; the confirmation page says when there are more. */
export const MAX_TENANT_SYNC = 100;
/** Pushes (and dry runs) at once: each reads Graph and SharePoint and writes three files. */
const AT_ONCE = 4;

export interface DryRun {
  reports: PushReport[];
  /** Names by UPN, for the sentences. */
  names: Record<string, string>;
  /** Users out of step in all (for "all": may be more than were read). */
  total: number;
}

/** The outcomes that change SharePoint: what a confirmation goes on to do. */
export const CHANGING: readonly PushOutcome[] = ['would_push', 'would_remove'];

export function connectedTenant(services: Services): M365Connection {
  if (!services.m365) {
    throw notFound('Connect mode is not set up: photosync is its own organisation here.', 'connect_mode_off');
  }
  return services.m365;
}

async function operatorSyncAllowed(services: Services): Promise<void> {
  if (!(await services.settings.refresh()).operatorSync) {
    throw forbidden(
      "Operator sync is turned off in the settings: the sites sync on the user's own action. Ask the user to sync instead.",
      'operator_sync_off',
    );
  }
}

async function tenantUser(services: Services, upn: string): Promise<TenantUserRecord> {
  const user = await findTenantUser(services.database.db, upn);
  if (!user) throw notFound(`The tenant has no user ${upn} (as of the last scan).`, 'user_not_found');
  return user;
}

const pushDeps = (services: Services) => ({ db: services.database.db, lock: services.tenantLock });

/** What syncing one user, or everyone out of step, would do; nothing is written. */
export async function tenantDryRun(services: Services, target: { upn: string } | { all: true }): Promise<DryRun> {
  const connection = connectedTenant(services);
  await operatorSyncAllowed(services);
  const { users, total } =
    'upn' in target
      ? { users: [await tenantUser(services, target.upn)], total: 1 }
      : await usersInStates(services.database.db, OUT_OF_STEP_STATES, MAX_TENANT_SYNC);
  const options = { trigger: 'admin' as const, sizes: services.syncSettings().renditionSizes, dryRun: true };
  const reports = await mapLimit(users, AT_ONCE, (user) =>
    pushTenantUser(connection, pushDeps(services), user, options),
  );
  return { reports, names: Object.fromEntries(users.map((u) => [u.upn, u.displayName])), total };
}

export interface TenantSyncResult {
  auditId: number;
  reports: PushReport[];
}

/** Pushes the confirmed users (by UPN) and records what happened in the audit log. */
export async function tenantSync(
  services: Services,
  actor: DirectoryUser,
  upns: readonly string[],
): Promise<TenantSyncResult> {
  const connection = connectedTenant(services);
  await operatorSyncAllowed(services);
  const unique = [...new Set(upns.map((u) => u.trim().toLowerCase()))];
  if (unique.length === 0) throw invalidInput('Choose at least one user to sync.', 'nothing_selected');
  if (unique.length > MAX_TENANT_SYNC) throw invalidInput(`Sync at most ${MAX_TENANT_SYNC} users at once.`);
  const users: TenantUserRecord[] = [];
  for (const upn of unique) users.push(await tenantUser(services, upn));
  const options = { trigger: 'admin' as const, sizes: services.syncSettings().renditionSizes };
  const reports = await mapLimit(users, AT_ONCE, (user) =>
    pushTenantUser(connection, pushDeps(services), user, options),
  );
  const auditId = await recordAudit(services.database.db, actor, 'operator_sync', tenantSyncAudit(users, reports));
  return { auditId, reports };
}

/** The audit entry's detail of a push to the tenant, from the console or the command line: `reports[i]` is `users[i]`'s. */
export function tenantSyncAudit(users: readonly { displayName: string }[], reports: readonly PushReport[]) {
  return {
    tenant: true,
    results: reports.map((r, i) => ({
      upn: r.upn,
      name: users[i]!.displayName,
      outcome: r.outcome,
      ...(r.error ? { error: r.error } : {}),
    })),
  };
}
