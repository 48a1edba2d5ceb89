import { sql, type CompiledQuery, type Kysely } from 'kysely';
import { toMailPhoto, type KeptRenditionRow, type MailPhoto } from '../mail/photo-store.js';
import { SITE_PROFILE_COLUMNS, toSiteProfile, type SiteProfile } from '../sites/profiles.js';
import type { Database, Db } from '../storage/database.js';
import { preparedQuery } from '../storage/prepared.js';
import { toSyncState, type SyncState } from './history.js';
import { failsOnPhoto, type SyncStateInputs } from './state.js';
import { usersWithSyncTables } from './status.js';

/** What a sync decides from: the sites' profile, the mail photo's metadata and the back-off state. */
export interface SyncInputs {
  /** The user is no longer in the directory (removed since they were read). */
  gone?: true;
  profile: SiteProfile | undefined;
  mail: MailPhoto | undefined;
  state: SyncState | undefined;
}

// One query instead of three: an in-step check is a few small reads and one commit, so on
// PostgreSQL each round trip saved is a visible part of it.
const inputsQuery = (db: Db, userId: string) =>
  usersWithSyncTables(db)
    .select([
      'p.user_id as profile_user',
      ...SITE_PROFILE_COLUMNS.map((c) => `p.${c}` as const),
      'm.user_id as mail_user',
      'm.etag',
      'm.side',
      'm.byte_size',
      'm.changed_at',
      'm.blob_key',
      's.user_id as state_user',
      's.last_attempt_at',
      's.last_outcome',
      's.failing_since',
      's.failed_etag',
      's.retry_after',
      's.last_error',
    ])
    .where('u.id', '=', userId);

const inputsRow = preparedQuery(1, inputsQuery);

/** A row of the inputs query (`inputsOf` makes the inputs of it). */
export type InputsRow = Awaited<ReturnType<typeof inputsRow>>[number];

/** The inputs as one query of the user id alone, for reading under the user's lock. */
export function syncInputsQuery(db: Kysely<Database>, userId: string): CompiledQuery<InputsRow> {
  return inputsQuery(db, userId).compile();
}

/** A picture view's moment and recheck interval, for the lock hint of `syncReadQuery`. */
export interface PictureView {
  now: number;
  recheckMs: number;
}

/** A row of `syncReadQuery`: the inputs, and what the work needs when it is done under the lock. */
export type SyncReadRow = InputsRow & {
  /** The sites look out of step: a hint to take the lock with the read (`classify` decides). */
  needs_lock: boolean;
  /** Read under the lock while the sites look out of step: the renditions kept with the mail photo, at `spec`. */
  kept: Array<Omit<KeptRenditionRow, 'bytes'> & { bytes: string | null }> | null;
};

/**
 * PostgreSQL with the photo store in the database: the inputs as one query of the user id ($1)
 * for `UserLock.readOrLock` and `runReading`, with `needs_lock`, and with `$2` (true under the
 * lock) the renditions made when the mail photo was set at the sizes `spec`, their bytes in
 * base64 (JSON has no bytes; a `bytea` would come as hex, twice the size). A sync of a changed
 * photo is then one round trip and the switch; an in-step one reads no bytes and takes no lock.
 */
export function syncReadQuery(
  db: Kysely<Database>,
  userId: string,
  spec: string,
  view?: PictureView,
): CompiledQuery<SyncReadRow> {
  const looksOutOfStep = sql<boolean>`(
      m.etag is not null and (p.user_id is null or p.picture_timestamp is null or p.picture_source is distinct from 'mail'
        or p.synced_etag is distinct from m.etag or p.rendition_spec is distinct from ${sql.lit(spec)})
    ) or (m.etag is null and p.placeholder_state = 0)`;
  // A picture view that `planSync` would skip (its photo backing off, or checked a moment ago)
  // takes no lock: the hint leaves it to the assessment, which skips it without waiting for one.
  const viewSkipped = view
    ? sql<boolean>`(s.retry_after > ${sql.lit(view.now)} and s.failed_etag is not distinct from m.etag)
        or (${sql.lit(view.recheckMs)} > 0 and p.last_checked_at > ${sql.lit(view.now - view.recheckMs)})`
    : sql<boolean>`false`;
  return inputsQuery(db, userId)
    .select([
      sql<boolean>`coalesce(u.has_mailbox = 1 and (${looksOutOfStep}) and not coalesce(${viewSkipped}, false), false)`.as(
        'needs_lock',
      ),
      sql<SyncReadRow['kept']>`case when $2::boolean and u.has_mailbox = 1 and (${looksOutOfStep}) then (
        select coalesce(jsonb_agg(jsonb_build_object('size', r.size, 'side', r.side, 'blob_key', r.blob_key,
          'etag', r.etag, 'bytes', encode(b.bytes, 'base64'))), '[]'::jsonb)
        from mail_photo_renditions r left join storage_blobs b on b.key = r.blob_key
        where r.user_id = u.id and r.mail_etag = m.etag and r.rendition_spec = ${sql.lit(spec)}
      ) end`.as('kept'),
    ])
    .compile();
}

export async function getSyncInputs(db: Db, userId: string): Promise<SyncInputs> {
  const [row] = await inputsRow(db, userId);
  return inputsOf(row);
}

/** The inputs a row of the inputs query holds (none without a row: no such user). */
export function inputsOf(row: InputsRow | undefined): SyncInputs {
  if (!row) return { gone: true, profile: undefined, mail: undefined, state: undefined };
  return {
    profile:
      row.profile_user === null
        ? undefined
        : toSiteProfile({
            placeholder_state: row.placeholder_state!,
            exchange_sync_state: row.exchange_sync_state!,
            picture_timestamp: row.picture_timestamp,
            picture_source: row.picture_source,
            synced_etag: row.synced_etag,
            rendition_spec: row.rendition_spec,
            last_checked_at: row.last_checked_at,
          }),
    mail:
      row.mail_user === null
        ? undefined
        : toMailPhoto({
            etag: row.etag,
            side: row.side,
            byte_size: row.byte_size,
            changed_at: row.changed_at!,
            blob_key: row.blob_key,
          }),
    state:
      row.state_user === null
        ? undefined
        : toSyncState({
            last_attempt_at: row.last_attempt_at!,
            last_outcome: row.last_outcome!,
            failing_since: row.failing_since,
            failed_etag: row.failed_etag,
            retry_after: row.retry_after,
            last_error: row.last_error,
          }),
  };
}

/** The facts `classify` judges, from what a sync reads. */
export function syncStateInputs(hasMailbox: boolean, inputs: SyncInputs, renditionSpec: string): SyncStateInputs {
  const { profile, mail, state } = inputs;
  return {
    hasMailbox,
    mailEtag: mail?.etag ?? null,
    sitePicture: profile
      ? {
          placeholder: profile.placeholderState === 1,
          source: profile.pictureSource,
          syncedEtag: profile.syncedEtag,
          renditionSpec: profile.renditionSpec,
          pictureTimestamp: profile.pictureTimestamp,
        }
      : null,
    renditionSpec,
    failing: failsOnPhoto(state?.failingSince ?? null, state?.failedEtag ?? null, mail?.etag ?? null),
  };
}
