import { libraryFileStem } from '../directory/upn.js';
import { pictureProperties, type PictureProperties } from '../sites/library.js';
import type { Db } from '../storage/database.js';

// Whether each user's site pictures are in step with their mail photo, and why not. This is a
// read-only report across the roles' tables (one indexed join instead of four lookups per user).

export const SYNC_STATES = ['in_step', 'changed', 'never_synced', 'no_photo', 'no_mailbox', 'failing'] as const;
export type SyncStateName = (typeof SYNC_STATES)[number];

export const SYNC_STATE_LABELS: Record<SyncStateName, string> = {
  in_step: 'in step',
  changed: 'changed since last sync',
  never_synced: 'never synced',
  no_photo: 'no photo',
  no_mailbox: 'no mailbox',
  failing: 'failing',
};

export interface UserSyncStatus {
  upn: string;
  displayName: string;
  state: SyncStateName;
  mailEtag: string | null;
  mailChangedAt: number | null;
  syncedEtag: string | null;
  pictureTimestamp: number | null;
  lastAttemptAt: number | null;
  lastOutcome: string | null;
  lastError: string | null;
  siteProperties: PictureProperties;
}

interface StatusRow {
  has_mailbox: number;
  mail_etag: string | null;
  synced_etag: string | null;
  picture_source: string | null;
  placeholder_state: number | null;
  picture_timestamp: number | null;
  failing_since: number | null;
  rendition_spec: string | null;
}

/** `renditionSpec`: the sizes configured now; pictures made at other sizes are out of step. */
export function classify(row: StatusRow, renditionSpec?: string): SyncStateName {
  if (row.has_mailbox !== 1) return 'no_mailbox';
  if (row.failing_since !== null) return 'failing';
  if (row.mail_etag === null) return row.placeholder_state === 0 ? 'changed' : 'no_photo';
  if (row.picture_timestamp === null) return 'never_synced';
  const sizesCurrent = renditionSpec === undefined || row.rendition_spec === renditionSpec;
  if (row.picture_source === 'mail' && row.synced_etag === row.mail_etag && sizesCurrent) return 'in_step';
  return 'changed';
}

/**
 * Each user with what their sync state is made of: the mail photo (`m`), the sites' profile (`p`)
 * and the running sync state (`s`), each absent (all NULL) when the user has none.
 */
export function usersWithSyncTables(db: Db) {
  return db
    .selectFrom('directory_users as u')
    .leftJoin('mail_photos as m', 'm.user_id', 'u.id')
    .leftJoin('site_profiles as p', 'p.user_id', 'u.id')
    .leftJoin('sync_state as s', 's.user_id', 'u.id');
}

export async function listSyncStatus(db: Db, publicUrl: string, renditionSpec?: string): Promise<UserSyncStatus[]> {
  const rows = await usersWithSyncTables(db)
    .select([
      'u.upn',
      'u.display_name',
      'u.has_mailbox',
      'm.etag as mail_etag',
      'm.changed_at as mail_changed_at',
      'p.synced_etag',
      'p.picture_source',
      'p.placeholder_state',
      'p.exchange_sync_state',
      'p.file_stem',
      'p.rendition_spec',
      'p.picture_timestamp',
      's.last_attempt_at',
      's.last_outcome',
      's.last_error',
      's.failing_since',
    ])
    .orderBy('u.upn')
    .execute();
  return rows.map((row) => ({
    upn: row.upn,
    displayName: row.display_name,
    state: classify(row, renditionSpec),
    mailEtag: row.mail_etag,
    mailChangedAt: row.mail_changed_at,
    syncedEtag: row.synced_etag,
    pictureTimestamp: row.picture_timestamp,
    lastAttemptAt: row.last_attempt_at,
    lastOutcome: row.last_outcome,
    lastError: row.last_error,
    siteProperties: pictureProperties(
      publicUrl,
      row.file_stem ?? libraryFileStem(row.upn),
      row.placeholder_state === null
        ? undefined
        : {
            placeholderState: row.placeholder_state,
            exchangeSyncState: row.exchange_sync_state ?? 1,
            pictureTimestamp: row.picture_timestamp,
          },
      row.has_mailbox === 1,
    ),
  }));
}
