import { getDirectoryPhoto } from '../directory/photo.js';
import { findUserByUpn, type DirectoryUser } from '../directory/users.js';
import { forbidden, invalidInput, isAppError, userNotFound } from '../errors.js';
import { getMailPhoto } from '../mail/photo-store.js';
import type { Services } from '../services.js';
import { pictureProperties, type PictureProperties } from '../sites/library.js';
import { fileStemOf, getRendition, getSiteProfile } from '../sites/profiles.js';
import { countAttempts, listAttempts, type HistoryEntry, type SyncOutcome } from '../sync/history.js';
import type { SyncStateName } from '../sync/state.js';
import { amendAudit, recordAudit } from './audit.js';
import { listPrompts, promptUsers, type PromptOutcome, type PromptRecord, type PromptTarget } from './prompts.js';

/** The attempts a user's page and the API show: the latest, and how many there are in all. */
export const LATEST_ATTEMPTS = 1000;

// What the console's pages and API do, in one place: both call these.

export const MAX_OPERATOR_SYNC = 50;

export interface UserDetail {
  upn: string;
  displayName: string;
  /** False for a disabled account: they cannot sign in, and others see the placeholder. */
  enabled: boolean;
  hasMailbox: boolean;
  isAdmin: boolean;
  state: SyncStateName;
  since: number;
  mail: { etag: string; side: number; byteSize: number; changedAt: number } | null;
  /** thumbnailPhoto: shown for comparison, never a source for the sites. */
  directoryPhoto: { byteSize: number } | null;
  renditions: Array<{ size: 'S' | 'M' | 'L'; etag: string; side: number; byteSize: number }>;
  properties: PictureProperties;
  syncedEtag: string | null;
  /** The latest attempts, at most LATEST_ATTEMPTS. */
  attempts: HistoryEntry[];
  /** How many attempts the history keeps in all (more than shown when the list was cut). */
  attemptsTotal: number;
  prompts: PromptRecord[];
}

export async function userDetail(services: Services, upn: string): Promise<UserDetail> {
  const { db } = services.database;
  const user = await findUserByUpn(db, upn);
  if (!user) throw userNotFound(upn);
  const [status, mail, directoryPhoto, profile, stem, attempts, prompts] = await Promise.all([
    db.selectFrom('admin_user_status').select(['state', 'since']).where('user_id', '=', user.id).executeTakeFirst(),
    getMailPhoto(db, user.id),
    getDirectoryPhoto(db, user.id),
    getSiteProfile(db, user.id),
    fileStemOf(db, user),
    listAttempts(db, user.id, LATEST_ATTEMPTS),
    listPrompts(db, user.id),
  ]);
  const renditions: UserDetail['renditions'] = [];
  for (const size of ['S', 'M', 'L'] as const) {
    const r = await getRendition(db, user.id, size);
    if (r) renditions.push({ size, etag: r.etag, side: r.side, byteSize: r.byteSize });
  }
  return {
    upn: user.upn,
    displayName: user.displayName,
    enabled: user.enabled,
    hasMailbox: user.hasMailbox,
    isAdmin: user.isAdmin,
    state: (status?.state ?? 'no_photo') as SyncStateName,
    since: status?.since ?? 0,
    mail: mail ? { etag: mail.etag, side: mail.side, byteSize: mail.byteSize, changedAt: mail.changedAt } : null,
    directoryPhoto: directoryPhoto ? { byteSize: directoryPhoto.length } : null,
    renditions,
    properties: pictureProperties(services.config.publicUrl, stem, profile, user.hasMailbox),
    syncedEtag: profile?.syncedEtag ?? null,
    attempts,
    attemptsTotal: attempts.length < LATEST_ATTEMPTS ? attempts.length : await countAttempts(db, user.id),
    prompts,
  };
}

export interface PromptResult {
  prompted: number;
  skipped: PromptOutcome['skipped'];
  /** Users asked again while an earlier request to them is still open. */
  askedAgain: string[];
  auditId: number;
  /** sending: e-mails go out in the background; off: no SMTP_URL. */
  email: 'sending' | 'off';
}

/**
 * Records the prompts with their e-mails in the outbox, then asks the outbox to send them now
 * (never holding the request); a try that fails is retried later by whichever instance is up.
 */
export async function askToSync(services: Services, actor: DirectoryUser, target: PromptTarget): Promise<PromptResult> {
  const outbox = services.promptOutbox;
  const { promptIds, skipped, askedAgain, auditId } = await promptUsers(services.database.db, actor, target, {
    email: outbox !== undefined,
  });
  if (outbox && promptIds.length > 0) outbox.nudge();
  return { prompted: promptIds.length, skipped, askedAgain, auditId, email: outbox ? 'sending' : 'off' };
}

/**
 * A user's outcome in an operator sync: the sync's own, or `not_found` for a user removed after
 * they were chosen and before their sync (there is no history left to record it in).
 */
export type OperatorSyncOutcome = SyncOutcome | 'not_found';

export interface OperatorSyncResult {
  upn: string;
  outcome: OperatorSyncOutcome;
  error: string | null;
}

/** An operator sync's entry with one more user's sync done: out of `pending`, into `results`. */
function operatorSyncDone(
  detail: Record<string, unknown>,
  result: { upn: string; outcome: string; error: string | null },
): Record<string, unknown> {
  const results = Array.isArray(detail.results) ? detail.results : [];
  const pending = Array.isArray(detail.pending) ? (detail.pending as unknown[]) : [];
  const rest = pending.filter((upn) => upn !== result.upn);
  const { pending: _, ...done } = detail;
  return { ...done, results: [...results, result], ...(rest.length > 0 ? { pending: rest } : {}) };
}

/** Runs the sync as trigger `admin`, only when the setting allows it; recorded in the audit log. */
export async function operatorSync(
  services: Services,
  actor: DirectoryUser,
  upns: string[],
): Promise<{ results: OperatorSyncResult[]; auditId: number }> {
  if (!(await services.settings.refresh()).operatorSync) {
    throw forbidden(
      "Operator sync is turned off in the settings: the sites sync on the user's own action. Ask the user to sync instead.",
      'operator_sync_off',
    );
  }
  if (upns.length === 0) throw invalidInput('Choose at least one user to sync.', 'nothing_selected');
  if (upns.length > MAX_OPERATOR_SYNC) throw invalidInput(`Sync at most ${MAX_OPERATOR_SYNC} users at once.`);
  const users: DirectoryUser[] = [];
  for (const upn of new Set(upns)) {
    const user = await findUserByUpn(services.database.db, upn);
    if (!user) throw userNotFound(upn);
    users.push(user);
  }
  // Each user's sync is a commit of its own: the entry names them all first, and each sync moves
  // its user from `pending` to `results` in the commit that records it. Stopped part-way (the
  // process killed), the entry says whose sync was done and whose was not: `pending` means only
  // that. A sync that fails without a record of its own (the user removed meanwhile, the attempt's
  // record refused) is recorded here with its outcome, and the others are synced still.
  const auditId = await recordAudit(services.database.db, actor, 'operator_sync', {
    results: [],
    pending: users.map((u) => u.upn),
  });
  const results: OperatorSyncResult[] = [];
  for (const user of users) {
    let result: OperatorSyncResult;
    try {
      const synced = await services.sync.sync(user, 'admin', {
        alsoRecord: (trx, { outcome, error }) =>
          amendAudit(trx, services.database.dialect, auditId, (detail) =>
            operatorSyncDone(detail, { upn: user.upn, outcome, error }),
          ),
      });
      result = { upn: user.upn, outcome: synced.outcome, error: synced.error };
    } catch (cause) {
      result = await syncThrew(services, auditId, user, cause);
    }
    results.push(result);
  }
  return { results, auditId };
}

/**
 * A user's sync that ended in an error of its own, recorded in the entry in a commit of its own.
 * When even that cannot be written, the request fails with the sync's error, and the entry keeps
 * the user (and those after) pending.
 */
async function syncThrew(
  services: Services,
  auditId: number,
  user: DirectoryUser,
  cause: unknown,
): Promise<OperatorSyncResult> {
  const error = cause instanceof Error ? cause.message : String(cause);
  const gone = isAppError(cause) && cause.id === 'user_not_found';
  const result: OperatorSyncResult = { upn: user.upn, outcome: gone ? 'not_found' : 'failed', error };
  if (!gone) services.log.error({ err: cause, user: user.upn, trigger: 'admin' }, `operator sync failed: ${error}`);
  const { db, dialect } = services.database;
  try {
    await db
      .transaction()
      .execute((trx) => amendAudit(trx, dialect, auditId, (detail) => operatorSyncDone(detail, result)));
  } catch {
    throw cause;
  }
  return result;
}
