import { libraryFileStem } from '../directory/upn.js';
import { pictureProperties, type PictureProperties } from '../sites/library.js';
import type { Db } from '../storage/database.js';
import { classify, failsOnPhoto, type SyncStateName } from './state.js';

// Each user's sync state with what it is made of, for the status report: one indexed join
// across the roles' tables instead of four lookups per user. The state itself is decided in
// ./state.ts.

export interface UserSyncStatus {
  upn: string;
  displayName: string;
  /** false: an administrator disabled the account; others see the placeholder whatever the state. */
  enabled: boolean;
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

/** `renditionSpec`: the S,M,L sizes configured now (pictures made at other sizes are out of step). */
export async function listSyncStatus(db: Db, publicUrl: string, renditionSpec: string): Promise<UserSyncStatus[]> {
  const rows = await usersWithSyncTables(db)
    .select([
      'u.upn',
      'u.display_name',
      'u.enabled',
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
      's.failed_etag',
    ])
    .orderBy('u.upn')
    .execute();
  return rows.map((row) => ({
    upn: row.upn,
    displayName: row.display_name,
    enabled: row.enabled === 1,
    state: classify({
      hasMailbox: row.has_mailbox === 1,
      mailEtag: row.mail_etag,
      sitePicture:
        row.placeholder_state === null
          ? null
          : {
              placeholder: row.placeholder_state !== 0,
              source: row.picture_source,
              syncedEtag: row.synced_etag,
              renditionSpec: row.rendition_spec,
              pictureTimestamp: row.picture_timestamp,
            },
      renditionSpec,
      failing: failsOnPhoto(row.failing_since, row.failed_etag, row.mail_etag),
    }),
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
