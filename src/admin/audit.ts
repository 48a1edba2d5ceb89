import type { DirectoryUser } from '../directory/users.js';
import type { Db, Dialect } from '../storage/database.js';

// Every admin action: who, when, what. Written in the same transaction as the action itself where
// it can be. The console's actions name the administrator; the commands run on the server
// (photosync users disable, apps add, restore, …) name the command line; a change to someone
// else's photo through Graph names the administrator whose token it was, or the app. What people
// do to their own account (their own photo, in the portal or through Graph) is not an admin
// action and is not recorded here.

export const AUDIT_ACTIONS = [
  'prompt',
  'operator_sync',
  'settings',
  'app_added',
  'app_removed',
  'admin_granted',
  'admin_revoked',
  'user_disabled',
  'user_enabled',
  'user_added',
  'password_set',
  'user_removed',
  'photo_set',
  'photo_removed',
  'directory_photo_set',
  'directory_photo_removed',
  'site_photo_set',
  'token_created',
  'token_revoked',
  'app_certificate_removed',
  'app_public_client_set',
  'app_redirect_uri_set',
  'sessions_revoked',
  'signing_key_rotated',
  'users_imported',
  'restored',
  'tenant_scan_started',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export type AuditActor = Pick<DirectoryUser, 'id' | 'upn'>;

/** Whoever ran a command on the server: no user of photosync's, so an id no user has (theirs are UUIDs). */
export const COMMAND_LINE: AuditActor = { id: 'command-line', upn: 'command line' };

/** An actor that is an app (its own token, client credentials): its client id, marked so no user's id is it. */
const APP_ACTOR = 'app:';

/** An app acting on its own, named as it was registered when it acted. */
export function appActor(app: { clientId: string; name: string }): AuditActor {
  return { id: `${APP_ACTOR}${app.clientId}`, upn: app.name };
}

export interface AuditEntry {
  id: number;
  at: number;
  actorUpn: string;
  /** The action was a command run on the server, not an administrator's in the console. */
  byCommandLine: boolean;
  /** The action was an app's, with its own token (`actorUpn` is then its name). */
  byApp?: { clientId: string; name: string };
  action: AuditAction;
  detail: Record<string, unknown>;
}

export async function recordAudit(
  db: Db,
  actor: AuditActor,
  action: AuditAction,
  detail: Record<string, unknown>,
  at = Date.now(),
): Promise<number> {
  const row = await db
    .insertInto('admin_audit')
    .values({ at, actor_id: actor.id, actor_upn: actor.upn, action, detail: JSON.stringify(detail) })
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

/**
 * Rewrites an entry's detail in the caller's transaction, for work recorded as it is done (its
 * intent first, then each part in the part's own commit). The entry is read under a lock held to
 * the commit (FOR UPDATE on PostgreSQL; SQLite's transactions hold the write lock from their
 * start), so parts committing at once each add to what the other wrote. An entry that is not
 * there is an error: the part is not committed without its record.
 */
export async function amendAudit(
  trx: Db,
  dialect: Dialect,
  id: number,
  change: (detail: Record<string, unknown>) => Record<string, unknown>,
): Promise<void> {
  const row = await trx
    .selectFrom('admin_audit')
    .select('detail')
    .where('id', '=', id)
    .$if(dialect === 'postgres', (q) => q.forUpdate())
    .executeTakeFirst();
  if (!row) throw new Error(`The audit entry ${id} is not there to record the work in.`);
  const detail = change(JSON.parse(row.detail) as Record<string, unknown>);
  await trx
    .updateTable('admin_audit')
    .set({ detail: JSON.stringify(detail) })
    .where('id', '=', id)
    .execute();
}

export async function getAuditEntry(db: Db, id: number): Promise<AuditEntry | undefined> {
  const r = await db
    .selectFrom('admin_audit')
    .select(['id', 'at', 'actor_id', 'actor_upn', 'action', 'detail'])
    .where('id', '=', id)
    .executeTakeFirst();
  return r && toEntry(r);
}

function toEntry(r: {
  id: number;
  at: number;
  actor_id: string;
  actor_upn: string;
  action: string;
  detail: string;
}): AuditEntry {
  return {
    id: Number(r.id),
    at: r.at,
    actorUpn: r.actor_upn,
    byCommandLine: r.actor_id === COMMAND_LINE.id,
    ...(r.actor_id.startsWith(APP_ACTOR)
      ? { byApp: { clientId: r.actor_id.slice(APP_ACTOR.length), name: r.actor_upn } }
      : {}),
    action: r.action as AuditAction,
    detail: JSON.parse(r.detail) as Record<string, unknown>,
  };
}

/** Newest first; `before` is the id of the last entry of the previous page. */
export async function listAudit(
  db: Db,
  options: { before?: number | undefined; limit?: number | undefined } = {},
): Promise<{ entries: AuditEntry[]; next: number | null }> {
  const limit = Math.min(Math.max(options.limit ?? 50, 1), 200);
  const rows = await db
    .selectFrom('admin_audit')
    .select(['id', 'at', 'actor_id', 'actor_upn', 'action', 'detail'])
    .$if(options.before !== undefined, (q) => q.where('id', '<', options.before!))
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  const entries = rows.slice(0, limit).map(toEntry);
  return { entries, next: rows.length > limit ? (entries.at(-1)?.id ?? null) : null };
}
