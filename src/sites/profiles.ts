import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type QueryCreator } from 'kysely';
import type { DirectoryUser } from '../directory/users.js';
import { libraryFileStem } from '../directory/upn.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { ByteCache } from '../storage/byte-cache.js';
import type { Database, Db } from '../storage/database.js';
import { contentTag } from '../storage/hash.js';
import { preparedQuery } from '../storage/prepared.js';
import { RENDITION_SIZES, type RenditionSize } from './library.js';
import type { SiteProfilesTable } from './tables.js';

// The sites' user profiles: the SPS-Picture* properties and the three renditions they point at.

export interface SiteProfile {
  placeholderState: 0 | 1;
  exchangeSyncState: 0 | 1;
  pictureTimestamp: number | null;
  pictureSource: 'mail' | 'upload' | null;
  syncedEtag: string | null;
  /** The S,M,L sizes the renditions were made at. */
  renditionSpec: string | null;
  lastCheckedAt: number | null;
}

export interface Rendition {
  etag: string;
  /** SPS-PictureTimestamp of the picture this rendition belongs to (the `?t=` of its URL). */
  pictureTimestamp: number | null;
  blobKey: string;
  side: number;
  byteSize: number;
}

export type RenditionJpegs = Record<RenditionSize, { jpeg: Buffer; side: number }>;

export interface SitesDeps {
  db: Kysely<Database>;
  blobs: BlobStore;
  /**
   * The serving layer's cache of pictures' bytes: a publish puts the renditions it switched to
   * there once committed, so the first views of a new picture read nothing.
   */
  pictureBytes?: ByteCache;
  /** Test-only crash points; a no-op in production. */
  faultPoint?: (name: string) => void;
}

// Read by every sync, so compiled once (see preparedQuery).
const siteProfileRow = preparedQuery(1, (db, userId: string) =>
  db.selectFrom('site_profiles').select(SITE_PROFILE_COLUMNS).where('user_id', '=', userId),
);

export async function getSiteProfile(db: Db, userId: string): Promise<SiteProfile | undefined> {
  const [row] = await siteProfileRow(db, userId);
  return row && toSiteProfile(row);
}

export const SITE_PROFILE_COLUMNS = [
  'placeholder_state',
  'exchange_sync_state',
  'picture_timestamp',
  'picture_source',
  'synced_etag',
  'rendition_spec',
  'last_checked_at',
] as const;

export function toSiteProfile(row: Pick<SiteProfilesTable, (typeof SITE_PROFILE_COLUMNS)[number]>): SiteProfile {
  return {
    placeholderState: row.placeholder_state === 0 ? 0 : 1,
    exchangeSyncState: row.exchange_sync_state === 0 ? 0 : 1,
    pictureTimestamp: row.picture_timestamp,
    pictureSource: row.picture_source,
    syncedEtag: row.synced_etag,
    renditionSpec: row.rendition_spec,
    lastCheckedAt: row.last_checked_at,
  };
}

/** A user's rendition of one size, with its picture's time. */
const renditionQuery = (db: Db, userId: string, size: RenditionSize) =>
  db
    .selectFrom('site_renditions as r')
    .innerJoin('site_profiles as p', 'p.user_id', 'r.user_id')
    .select(['r.etag', 'r.blob_key', 'r.side', 'r.byte_size', 'p.picture_timestamp'])
    .where('r.user_id', '=', userId)
    .where('r.size', '=', size);

const renditionRow = preparedQuery(2, renditionQuery);

/** The rendition a profile shows: none while SPS-PicturePlaceholderState is 1 (its files stay in the library). */
const shownRenditionRow = preparedQuery(2, (db, userId: string, size: RenditionSize) =>
  renditionQuery(db, userId, size).where('p.placeholder_state', '=', 0),
);

/** The user's picture file of `size` in the library, shown or hidden behind the placeholder. */
export async function getRendition(db: Db, userId: string, size: RenditionSize): Promise<Rendition | undefined> {
  return renditionOf((await renditionRow(db, userId, size))[0]);
}

/** The rendition the profile shows (userphoto.aspx): undefined while it shows the placeholder. */
export async function getShownRendition(db: Db, userId: string, size: RenditionSize): Promise<Rendition | undefined> {
  return renditionOf((await shownRenditionRow(db, userId, size))[0]);
}

function renditionOf(
  row:
    { etag: string; blob_key: string; side: number; byte_size: number; picture_timestamp: number | null } | undefined,
): Rendition | undefined {
  return (
    row && {
      etag: row.etag,
      pictureTimestamp: row.picture_timestamp,
      blobKey: row.blob_key,
      side: row.side,
      byteSize: row.byte_size,
    }
  );
}

/** The name the user's library files go by (jane_contoso_com): the one given with their profile. */
export async function fileStemOf(db: Db, user: Pick<DirectoryUser, 'id' | 'upn'>): Promise<string> {
  const row = await db
    .selectFrom('site_profiles')
    .select('file_stem')
    .where('user_id', '=', user.id)
    .executeTakeFirst();
  return row?.file_stem ?? libraryFileStem(user.upn);
}

/** Finds the user id behind a library file stem (jane_contoso_com). */
export async function userIdForFileStem(db: Db, stem: string): Promise<string | undefined> {
  const row = await db.selectFrom('site_profiles').select('user_id').where('file_stem', '=', stem).executeTakeFirst();
  return row?.user_id;
}

type ProfileChange = Partial<Omit<Database['site_profiles'], 'user_id' | 'file_stem'>>;

/** Applies `change` to the user's profile, creating the profile first if there is none. */
async function upsertProfile(db: Kysely<Database>, user: DirectoryUser, change: ProfileChange): Promise<void> {
  if (await updateProfile(db, user, change)) return;
  await createProfile(db, user);
  await updateProfile(db, user, change);
}

/** Makes sure the profile row exists, so transactions only ever update it. */
async function ensureProfile(db: Kysely<Database>, user: DirectoryUser): Promise<void> {
  const row = await db.selectFrom('site_profiles').select('user_id').where('user_id', '=', user.id).executeTakeFirst();
  if (!row) await createProfile(db, user);
}

/** A new picture's profile change, in the switch's transaction: the picture's version as written. */
async function switchProfile(db: Db, user: DirectoryUser, change: ProfileChange): Promise<number> {
  const row = await db
    .updateTable('site_profiles')
    .set(versioned(change))
    .where('user_id', '=', user.id)
    .returning('picture_timestamp')
    .executeTakeFirst();
  if (row?.picture_timestamp == null) throw profileGone(user);
  return row.picture_timestamp;
}

const profileGone = (user: DirectoryUser) =>
  new Error(`The site profile of ${user.upn} went away while its pictures were switched.`);

async function updateProfile(db: Db, user: DirectoryUser, change: ProfileChange): Promise<boolean> {
  const updated = await db
    .updateTable('site_profiles')
    .set(versioned(change))
    .where('user_id', '=', user.id)
    .executeTakeFirst();
  return updated.numUpdatedRows > 0n;
}

/**
 * A new picture (or the placeholder) gets a version (`picture_timestamp`, the `?t=` of its URL,
 * under which it is served as immutable) later than every earlier one: its time, or one
 * millisecond past the version before when that is as late (a clock set back, a time a script
 * wrote ahead). So one URL never stands for two pictures.
 */
function versioned(change: ProfileChange) {
  const at = change.picture_timestamp;
  if (at === undefined || at === null) return change;
  return {
    ...change,
    picture_timestamp: sql<number>`CASE WHEN picture_timestamp >= ${at} THEN picture_timestamp + 1 ELSE ${at} END`,
  };
}

/**
 * Creates the profile (placeholder) with a library file name of the user's own. The library names
 * files after the UPN, so a.b@contoso.com and a_b@contoso.com would share a name and one would be
 * shown the other's face: the second gets a numbered name. Runs outside any transaction, since a
 * name taken meanwhile by another process fails the insert and the next number is tried.
 */
async function createProfile(db: Kysely<Database>, user: DirectoryUser): Promise<void> {
  const base = libraryFileStem(user.upn);
  for (let n = 1; n < 1000; n++) {
    const stem = n === 1 ? base : `${base}_${n}`;
    try {
      await db
        .insertInto('site_profiles')
        .values({
          user_id: user.id,
          file_stem: stem,
          exchange_sync_state: user.hasMailbox ? 1 : 0,
          placeholder_state: 1,
          picture_timestamp: null,
          picture_source: null,
          synced_etag: null,
          rendition_spec: null,
          last_checked_at: null,
        })
        .onConflict((oc) => oc.column('user_id').doNothing())
        .execute();
      return;
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
    }
  }
  throw new Error(`No free library file name for ${user.upn}.`);
}

function isUniqueViolation(error: unknown): boolean {
  const { code } = error as { code?: string };
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** Records that the mail photo was compared with the sites and nothing needed to change. */
export async function markProfileChecked(db: Kysely<Database>, user: DirectoryUser, at: number): Promise<void> {
  await upsertProfile(db, user, { last_checked_at: at, exchange_sync_state: user.hasMailbox ? 1 : 0 });
}

/** A switch of pictures that has committed; the old files may still be on their way out. */
export interface PublishedRenditions {
  /**
   * Settles when the files of the pictures replaced are gone; never rejects (a file that would not
   * go is named by no row, an orphan for the sweeper). Awaited by whoever must see them gone,
   * alongside other work: nothing reads them once the switch has committed.
   */
  oldFilesRemoved: Promise<void>;
  /** The renditions switched to, as `getRendition` reads them once committed. */
  renditions: Record<RenditionSize, Rendition>;
}

/**
 * Writes beside a switch of the sites' pictures, in its commit: in its transaction (`write`), or,
 * where the switch is one statement (PostgreSQL with the photo bytes in the database), as more
 * parts of it (`parts`, WITH clauses), so it stays one round trip.
 */
export interface SwitchRecord {
  write(trx: Db): Promise<unknown>;
  parts?(): ReadonlyArray<{ name: string; query: (q: QueryCreator<Database>) => unknown }>;
}

/**
 * Makes `jpegs` the user's S/M/L pictures. New files are written under new keys first; the profile
 * and rendition rows switch in one transaction; the old files go only after the commit. A crash at
 * any point leaves the old complete set or the new one. The caller holds the user's lock.
 */
export async function publishRenditions(
  deps: SitesDeps,
  user: DirectoryUser,
  picture: {
    jpegs: RenditionJpegs;
    source: 'mail' | 'upload';
    syncedEtag: string | null;
    renditionSpec: string;
    at: number;
    /** The caller read the profile under the user's lock: it exists, nothing to make first. */
    hasProfile?: boolean;
  },
  /** Written in the commit that switches the renditions (an audit entry, the sync's attempt). */
  record?: SwitchRecord,
): Promise<PublishedRenditions> {
  const generation = `${picture.at.toString(36)}-${randomBytes(4).toString('hex')}`;
  const rows = RENDITION_SIZES.map((size) => {
    const { jpeg, side } = picture.jpegs[size];
    return { size, jpeg, side, blobKey: `sites/${user.id}/${generation}-${size}.jpg`, etag: contentTag(jpeg) };
  });
  const change: ProfileChange = {
    placeholder_state: 0,
    exchange_sync_state: picture.source === 'mail' ? 1 : user.hasMailbox ? 1 : 0,
    picture_timestamp: picture.at,
    picture_source: picture.source,
    synced_etag: picture.syncedEtag,
    rendition_spec: picture.renditionSpec,
    last_checked_at: picture.at,
  };
  if (!picture.hasProfile) await ensureProfile(deps.db, user);
  if (deps.blobs.kind === 'postgres') {
    // Bytes and rows in one database: the new blobs, the switch and the old blobs' removal are one
    // statement, so one commit and one round trip. The crash points all come before it.
    for (const row of rows) deps.faultPoint?.(`after-put-${row.size}`);
    deps.faultPoint?.('before-commit');
    const pictureTimestamp =
      record && !record.parts
        ? await deps.db.transaction().execute(async (trx) => {
            const version = await switchInOneStatement(trx, user, rows, change);
            await record.write(trx);
            return version;
          })
        : await switchInOneStatement(deps.db, user, rows, change, record?.parts?.());
    deps.faultPoint?.('after-commit');
    return published(deps, rows, pictureTimestamp, Promise.resolve());
  }
  const sizeOf = new Map(rows.map((row) => [row.blobKey, row.size]));
  await deps.blobs.putAll(
    rows.map((row) => ({ key: row.blobKey, bytes: row.jpeg })),
    (key) => deps.faultPoint?.(`after-put-${sizeOf.get(key) ?? ''}`),
  );
  const switchToNew = deps.db.transaction().execute(async (trx) => {
    const old = await trx.deleteFrom('site_renditions').where('user_id', '=', user.id).returning('blob_key').execute();
    await trx.insertInto('site_renditions').values(renditionRows(user.id, rows)).execute();
    deps.faultPoint?.('before-commit');
    const version = await switchProfile(trx, user, change);
    await record?.write(trx);
    const retired = await deps.blobs.retire(
      trx,
      old.map((o) => o.blob_key),
    );
    return { version, retired };
  });
  let deleteOld: () => Promise<void>;
  let pictureTimestamp: number;
  try {
    ({ version: pictureTimestamp, retired: deleteOld } = await switchToNew);
  } catch (error) {
    // The switch did not happen: the new files belong to nobody.
    await deps.blobs.delete(rows.map((r) => r.blobKey)).catch(() => {});
    throw error;
  }
  deps.faultPoint?.('after-commit');
  return published(
    deps,
    rows,
    pictureTimestamp,
    deleteOld().catch(() => {}),
  );
}

/** A committed switch: its renditions' bytes kept for their first views, and their rows. */
function published(
  deps: SitesDeps,
  rows: ReadonlyArray<{ size: RenditionSize; blobKey: string; etag: string; side: number; jpeg: Buffer }>,
  pictureTimestamp: number,
  oldFilesRemoved: Promise<void>,
): PublishedRenditions {
  const renditions = {} as Record<RenditionSize, Rendition>;
  for (const row of rows) {
    deps.pictureBytes?.set(row.blobKey, row.jpeg);
    renditions[row.size] = {
      etag: row.etag,
      pictureTimestamp,
      blobKey: row.blobKey,
      side: row.side,
      byteSize: row.jpeg.length,
    };
  }
  return { oldFilesRemoved, renditions };
}

/**
 * PostgreSQL, where the photo bytes are rows too: writes the new blobs, points the renditions and
 * the profile at them and deletes the old blobs, in one statement. Its parts all read the table
 * as it was before it (the old keys come from that), and none sees another's writes.
 */
async function switchInOneStatement(
  db: Db,
  user: DirectoryUser,
  rows: ReadonlyArray<{ size: RenditionSize; jpeg: Buffer; side: number; blobKey: string; etag: string }>,
  change: ProfileChange,
  /** More parts of the statement, written in its commit (see SwitchRecord). */
  more: ReturnType<NonNullable<SwitchRecord['parts']>> = [],
): Promise<number> {
  const createdAt = Date.now();
  const plain = (q: unknown) => q as QueryCreator<Database>;
  const switched = db
    .with('old', (q) => q.selectFrom('site_renditions').select('blob_key').where('user_id', '=', user.id))
    .with('blobs', (q) =>
      plain(q)
        .insertInto('storage_blobs')
        .values(rows.map((r) => ({ key: r.blobKey, bytes: r.jpeg, created_at: createdAt })))
        .onConflict((oc) =>
          oc
            .column('key')
            .doUpdateSet((eb) => ({ bytes: eb.ref('excluded.bytes'), created_at: eb.ref('excluded.created_at') })),
        ),
    )
    .with('renditions', (q) =>
      plain(q)
        .insertInto('site_renditions')
        .values(renditionRows(user.id, rows))
        .onConflict((oc) =>
          oc.columns(['user_id', 'size']).doUpdateSet((eb) => ({
            blob_key: eb.ref('excluded.blob_key'),
            etag: eb.ref('excluded.etag'),
            side: eb.ref('excluded.side'),
            byte_size: eb.ref('excluded.byte_size'),
          })),
        ),
    )
    .with('profile', (q) =>
      plain(q)
        .updateTable('site_profiles')
        .set(versioned(change))
        .where('user_id', '=', user.id)
        .returning(['user_id', 'picture_timestamp']),
    )
    .with('retired', (q) =>
      q.deleteFrom('storage_blobs').where('key', 'in', (eb) => eb.selectFrom('old').select('old.blob_key')),
    );
  type Chain = { with(name: string, query: (q: QueryCreator<Database>) => unknown): Chain };
  const withMore = more.reduce<Chain>(
    (chain, part) => chain.with(part.name, (q) => part.query(plain(q))),
    switched as unknown as Chain,
  ) as unknown as typeof switched;
  const result = await withMore
    .selectFrom('profile' as never)
    .select([sql<number>`count(*)`.as('profiles'), sql<number | null>`max(picture_timestamp)`.as('version')])
    .executeTakeFirstOrThrow();
  const { profiles, version } = result as { profiles: number; version: number | null };
  if (Number(profiles) !== 1 || version === null) throw profileGone(user);
  return version;
}

/**
 * Shows the placeholder (SPS-PicturePlaceholderState = 1) and drops the renditions; `record` is
 * written in the same commit.
 */
export async function showPlaceholder(
  deps: SitesDeps,
  user: DirectoryUser,
  at: number,
  record?: SwitchRecord,
): Promise<void> {
  await ensureProfile(deps.db, user);
  const oldKeys = await deps.db.transaction().execute(async (trx) => {
    const old = await trx.deleteFrom('site_renditions').where('user_id', '=', user.id).returning('blob_key').execute();
    await updateProfile(trx, user, {
      placeholder_state: 1,
      exchange_sync_state: user.hasMailbox ? 1 : 0,
      picture_timestamp: at,
      picture_source: null,
      synced_etag: null,
      rendition_spec: null,
      last_checked_at: at,
    });
    await record?.write(trx);
    return old.map((o) => o.blob_key);
  });
  deps.faultPoint?.('after-placeholder-commit');
  await deps.blobs.delete(oldKeys);
}

/**
 * SPS-PicturePlaceholderState = 1 (or PictureURL = "") as an administrator's script sets it: the
 * profile shows the placeholder, and the picture's files stay in the library, as in SharePoint,
 * to be shown again. The picture's time moves, so no address cached as immutable keeps showing
 * it; a picture from the mail service is no longer the one synced, so the next sync brings it back.
 */
export async function hidePicture(db: Kysely<Database>, user: DirectoryUser, at: number): Promise<void> {
  await ensureProfile(db, user);
  await db
    .updateTable('site_profiles')
    .set({ placeholder_state: 1, synced_etag: null, picture_timestamp: laterThanPicture(at) })
    .where('user_id', '=', user.id)
    .execute();
}

/**
 * SPS-PicturePlaceholderState = 0 for a picture hidden behind the placeholder: shown again, under a
 * new time. False when the user has no picture files to show (nothing changed).
 */
export async function showPictureAgain(db: Kysely<Database>, user: DirectoryUser, at: number): Promise<boolean> {
  const result = await db
    .updateTable('site_profiles')
    .set({ placeholder_state: 0, picture_timestamp: laterThanPicture(at) })
    .where('user_id', '=', user.id)
    .where('placeholder_state', '=', 1)
    .where((eb) =>
      eb.exists(
        eb.selectFrom('site_renditions as r').select('r.user_id').whereRef('r.user_id', '=', 'site_profiles.user_id'),
      ),
    )
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** `at`, or one past the picture's own time when that is not earlier (a clock behind). */
const laterThanPicture = (at: number) =>
  sql<number>`CASE WHEN picture_timestamp IS NOT NULL AND picture_timestamp >= ${at} THEN picture_timestamp + 1 ELSE ${at} END`;

/**
 * SPS-PictureTimestamp as a script sets it after uploading the files: the picture's time, which
 * also versions its URL (`?t=`), so a new time is a new address. A time no later than the
 * picture's own is not taken: the same value written after every upload, or one copied from an
 * older profile, would give a new picture the address of an old one, which browsers keep as
 * immutable. The picture keeps its later time.
 */
export async function setPictureTimestamp(db: Kysely<Database>, user: DirectoryUser, at: number): Promise<void> {
  await ensureProfile(db, user);
  await db
    .updateTable('site_profiles')
    .set({ picture_timestamp: sql<number>`CASE WHEN picture_timestamp >= ${at} THEN picture_timestamp ELSE ${at} END` })
    .where('user_id', '=', user.id)
    .execute();
}

/** SPS-PictureExchangeSyncState as an administrator sets it (SetSingleValueProfileProperty). */
export async function setExchangeSyncState(db: Kysely<Database>, user: DirectoryUser, state: 0 | 1): Promise<void> {
  await upsertProfile(db, user, { exchange_sync_state: state });
}

/** The site_renditions rows naming a picture's new renditions. */
function renditionRows(
  userId: string,
  rows: ReadonlyArray<{ size: RenditionSize; blobKey: string; etag: string; side: number; jpeg: Buffer }>,
) {
  return rows.map((r) => ({
    user_id: userId,
    size: r.size,
    blob_key: r.blobKey,
    etag: r.etag,
    side: r.side,
    byte_size: r.jpeg.length,
  }));
}
