import { randomBytes } from 'node:crypto';
import type { RenditionSizes } from '../config.js';
import type { DirectoryUser } from '../directory/users.js';
import { imageRefused, notFound, userNotFound } from '../errors.js';
import { makeMasterPhoto, renderSquareJpegs } from '../media/media.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { Kysely } from 'kysely';
import type { Database, Db, Dialect } from '../storage/database.js';
import { renditionSpec } from '../sites/library.js';
import { contentTag } from '../storage/hash.js';
import { preparedQuery } from '../storage/prepared.js';

// The mailbox photo: the one source of truth for everyone's picture (Exchange Online's role).

/** Graph's request limit for PUT …/photo/$value. */
export const MAIL_PHOTO_MAX_BYTES = 4 * 1024 * 1024;
/** Exchange keeps a square master of at most 648×648. */
export const MAIL_MASTER_MAX_SIDE = 648;

export interface MailPhoto {
  etag: string;
  side: number;
  byteSize: number;
  changedAt: number;
  blobKey: string;
}

export interface MailStoreDeps {
  db: Kysely<Database>;
  dialect: Dialect;
  blobs: BlobStore;
  /**
   * The sites' rendition sizes now. A photo set is also rendered at them and the renditions kept
   * beside it, so the sync at the user's action has nothing to decode (`getSitesRenditions`).
   * Without it nothing is prepared and that sync renders the master itself.
   */
  sitesSizes?: () => RenditionSizes;
}

/** The sites' S/M/L renditions of one mail photo: JPEG bytes and the side each was made at. */
export type SitesRenditions = Record<'S' | 'M' | 'L', { jpeg: Buffer; side: number }>;

export const noMailbox = (user: DirectoryUser) =>
  notFound(
    `${user.upn} has no mailbox, so there is no mail photo. Upload a picture in the sites instead.`,
    'mailbox_not_found',
  );

/** The current photo's metadata, without touching its bytes: the sync engine compares ETags with it. */
// Read by every sync, so compiled once (see preparedQuery).
const mailPhotoRow = preparedQuery(1, (db, userId: string) =>
  db
    .selectFrom('mail_photos')
    .select(['etag', 'side', 'byte_size', 'changed_at', 'blob_key'])
    .where('user_id', '=', userId),
);

export async function getMailPhoto(db: Db, userId: string): Promise<MailPhoto | undefined> {
  const [row] = await mailPhotoRow(db, userId);
  return row && toMailPhoto(row);
}

export function toMailPhoto(row: {
  etag: string | null;
  side: number | null;
  byte_size: number | null;
  changed_at: number;
  blob_key: string | null;
}): MailPhoto | undefined {
  if (row.etag === null || row.blob_key === null) return undefined;
  return {
    etag: row.etag,
    side: row.side ?? 0,
    byteSize: row.byte_size ?? 0,
    changedAt: row.changed_at,
    blobKey: row.blob_key,
  };
}

/** The photo's file was not there: most often because the photo was replaced or removed since its row was read. */
export class MailPhotoFileGone extends Error {
  constructor(readonly blobKey: string) {
    super(`The mail photo file ${blobKey} is missing from the photo store.`);
  }
}

export async function readMailMaster(blobs: BlobStore, photo: MailPhoto): Promise<Buffer> {
  const bytes = await blobs.get(photo.blobKey);
  if (!bytes) throw new MailPhotoFileGone(photo.blobKey);
  return bytes;
}

/**
 * Runs `read` (which reads the mail photo's row, then its file) again when the file it named was
 * gone. A new photo's commit deletes the file it replaced at once, so a reader between the two
 * steps finds no file: read again, it answers with the photo as it is now (or none). The same file
 * missing twice is lost, not replaced, and stays an error.
 */
export async function readingCurrentMailPhoto<T>(read: () => Promise<T>): Promise<T> {
  let gone: string | undefined;
  for (let round = 0; ; round++) {
    try {
      return await read();
    } catch (error) {
      if (!(error instanceof MailPhotoFileGone) || error.blobKey === gone || round === 4) throw error;
      gone = error.blobKey;
    }
  }
}

/**
 * Normalises an upload into the master and makes it the mailbox's photo. Refused input throws an
 * AppError and changes nothing. Setting the same picture again keeps the ETag and the change time.
 * `record` (an audit entry) is written in the commit that switches the photo, when it switches.
 */
export async function setMailPhoto(
  deps: MailStoreDeps,
  user: DirectoryUser,
  upload: Buffer,
  record?: (trx: Db, photo: MailPhoto) => Promise<unknown>,
): Promise<MailPhoto> {
  if (!user.hasMailbox) throw noMailbox(user);
  const master = await makeMasterPhoto(upload, { maxSide: MAIL_MASTER_MAX_SIDE, maxBytes: MAIL_PHOTO_MAX_BYTES });
  if (!master.ok) throw imageRefused(master);

  const etag = contentTag(master.jpeg);
  const current = await getMailPhoto(deps.db, user.id);
  const sizes = deps.sitesSizes?.();
  // The same picture again changes nothing, unless a file of it was lost (the master, or one of
  // the sites' renditions kept with it): then it is a repair, under the same ETag and change time.
  const same = current?.etag === etag ? current : undefined;
  if (same && (await intact(deps, user.id, same, sizes))) return same;

  // Only a head start for the sync: a render that fails here (its deadline under load) leaves the
  // photo without them, and the sync renders the master itself.
  const forSites = sizes && (await renderForSites(master.jpeg, sizes).catch(() => undefined));
  const photo: MailPhoto = {
    etag,
    side: master.side,
    byteSize: master.jpeg.length,
    changedAt: same?.changedAt ?? Date.now(),
    // A fresh key per upload: a key never names two different writes, even of the same picture.
    blobKey: `mail/${user.id}/${etag}-${randomBytes(4).toString('hex')}.jpg`,
  };
  const kept = forSites && keptFor(photo, forSites);
  const written = [{ key: photo.blobKey, bytes: master.jpeg }, ...(kept?.files ?? [])];
  await deps.blobs.putAll(written);
  let replaced: string[];
  try {
    replaced = await replaceRow(deps, user, photo, record && ((trx) => record(trx, photo)), kept?.rows);
  } catch (error) {
    await deps.blobs.delete(written.map((w) => w.key)).catch(() => {});
    throw error;
  }
  if (replaced.length > 0) await deps.blobs.delete(replaced);
  return photo;
}

/** The photo's master is stored, and so are the sites' renditions kept with it at these sizes (when asked). */
async function intact(deps: MailStoreDeps, userId: string, photo: MailPhoto, sizes: RenditionSizes | undefined) {
  if (!(await deps.blobs.get(photo.blobKey))) return false;
  return !sizes || (await getSitesRenditions(deps, userId, photo.etag, sizes)) !== undefined;
}

/** The kept renditions' files (named after the master's key) and the rows that name them. */
function keptFor(photo: MailPhoto, { spec, renditions }: { spec: string; renditions: SitesRenditions }) {
  const sizes = ['S', 'M', 'L'] as const;
  const keyOf = (size: 'S' | 'M' | 'L') => photo.blobKey.replace(/\.jpg$/, `-${size}.jpg`);
  return {
    files: sizes.map((size) => ({ key: keyOf(size), bytes: renditions[size].jpeg })),
    rows: sizes.map((size) => ({
      size,
      mail_etag: photo.etag,
      rendition_spec: spec,
      side: renditions[size].side,
      blob_key: keyOf(size),
      etag: contentTag(renditions[size].jpeg),
    })),
  };
}

type KeptRow = ReturnType<typeof keptFor>['rows'][number];

/**
 * Removes the photo; returns false when there was none. The sites learn of it at the next sync.
 * `record` (an audit entry) is written in the commit that removes it.
 */
export async function removeMailPhoto(
  deps: MailStoreDeps,
  user: DirectoryUser,
  record?: (trx: Db) => Promise<unknown>,
): Promise<boolean> {
  if (!user.hasMailbox) throw noMailbox(user);
  const replaced = await replaceRow(deps, user, undefined, record);
  if (replaced.length > 0) await deps.blobs.delete(replaced);
  return replaced.length > 0;
}

/**
 * The sites' renditions of a new master, made exactly as the sync would make them (the same
 * render of the same bytes gives the same bytes). `renderSquareJpegs` keeps a smaller master at
 * its own side.
 */
async function renderForSites(
  master: Buffer,
  sizes: RenditionSizes,
): Promise<{ spec: string; renditions: SitesRenditions }> {
  const [S, M, L] = await renderSquareJpegs(master, [sizes.S, sizes.M, sizes.L]);
  if (!S || !M || !L) throw new Error('The renderer returned fewer renditions than asked for.');
  return { spec: renditionSpec(sizes), renditions: { S, M, L } };
}

// Read by every sync that has work to do, so compiled once (see preparedQuery).
const sitesRenditionRows = preparedQuery(3, (db, userId: string, mailEtag: string, spec: string) =>
  db
    .selectFrom('mail_photo_renditions')
    .select(['size', 'side', 'blob_key', 'etag'])
    .where('user_id', '=', userId)
    .where('mail_etag', '=', mailEtag)
    .where('rendition_spec', '=', spec),
);

/** The same with each one's bytes, where they are rows of the same database (null where none is stored). */
const sitesRenditionRowsWithBytes = preparedQuery(3, (db, userId: string, mailEtag: string, spec: string) =>
  db
    .selectFrom('mail_photo_renditions as r')
    .leftJoin('storage_blobs as b', 'b.key', 'r.blob_key')
    .select(['r.size', 'r.side', 'r.blob_key', 'r.etag', 'b.bytes'])
    .where('r.user_id', '=', userId)
    .where('r.mail_etag', '=', mailEtag)
    .where('r.rendition_spec', '=', spec),
);

/**
 * The sites' renditions made when this mail photo was set, when they were made at these sizes;
 * undefined otherwise (a photo set before they were kept, by a path that keeps none, at other
 * sizes, or replaced since and its files gone): the sync then renders the master.
 */
export async function getSitesRenditions(
  deps: { db: Db; blobs: BlobStore },
  userId: string,
  mailEtag: string,
  sizes: RenditionSizes,
): Promise<SitesRenditions | undefined> {
  const spec = renditionSpec(sizes);
  if (deps.blobs.kind === 'postgres') {
    // The bytes are rows in the same database: read with theirs, one round trip instead of two.
    const joined = await sitesRenditionRowsWithBytes(deps.db, userId, mailEtag, spec);
    return keptRenditions(
      deps,
      userId,
      joined.map((row) => ({ ...row, bytes: row.bytes ?? undefined })),
    );
  }
  const rows = await sitesRenditionRows(deps.db, userId, mailEtag, spec);
  if (rows.length !== 3) return undefined;
  const read = await deps.blobs.getAll(rows.map((row) => row.blob_key));
  return keptRenditions(
    deps,
    userId,
    rows.map((row, index) => ({ ...row, bytes: read[index] })),
    false,
  );
}

/** A row of the renditions kept with a mail photo, with its bytes as read (undefined: its file is gone). */
export interface KeptRenditionRow {
  size: keyof SitesRenditions;
  side: number;
  blob_key: string;
  etag: string;
  bytes: Buffer | undefined;
}

/**
 * The renditions kept with a mail photo, from their rows and bytes as read (`counted`: the bytes
 * were read from the database, past the photo store's count); undefined unless all three are
 * there and are the bytes written.
 */
export async function keptRenditions(
  deps: { db: Db; blobs: BlobStore },
  userId: string,
  rows: KeptRenditionRow[],
  counted = true,
): Promise<SitesRenditions | undefined> {
  if (counted) for (const { bytes } of rows) if (bytes) deps.blobs.countRead(bytes.length);
  if (rows.length !== 3) return undefined;
  // A file gone, or not the bytes written (damaged on disk): never copied into the sites.
  const lost = rows.filter((row) => !row.bytes || contentTag(row.bytes) !== row.etag).map((row) => row.blob_key);
  if (lost.length > 0) {
    // Rows naming such files are of no use, and a backup would look for a missing one: they go
    // (when the photo was replaced meanwhile, its commit removed them already). The sync renders
    // the master instead, and the same picture set again makes them anew.
    await deps.db
      .deleteFrom('mail_photo_renditions')
      .where('user_id', '=', userId)
      .where('blob_key', 'in', lost)
      .execute();
    // A damaged file no row names now goes too (its key is never written again).
    await deps.blobs.delete(lost).catch(() => {});
    return undefined;
  }
  const found: Partial<SitesRenditions> = {};
  for (const row of rows) found[row.size] = { jpeg: row.bytes!, side: row.side };
  return found.S && found.M && found.L ? (found as SitesRenditions) : undefined;
}

/**
 * Writes the row (and `record`, when it changes) in one transaction and returns the photo store's
 * keys it stopped naming: the previous master and its kept renditions, for the caller to delete
 * once this has committed (a crash before that leaves files no row names, which the sweep
 * removes). The rows of the new photo's kept renditions, when made, come in the same commit.
 */
async function replaceRow(
  deps: MailStoreDeps,
  user: DirectoryUser,
  photo: MailPhoto | undefined,
  record: ((trx: Db) => Promise<unknown>) | undefined,
  keptRows?: KeptRow[],
): Promise<string[]> {
  const userId = user.id;
  return deps.db.transaction().execute(async (trx) => {
    // One photo change of a user at a time, their first included (no photo row to lock yet): on
    // PostgreSQL a second waits here, then reads the first's row as `previous`, so neither leaves
    // files no row names (SQLite's transactions take the write lock at their start). A removal of
    // the user (FOR UPDATE) waits for it, or it for a removal, and then finds nobody: the user is
    // not found, said as such (the photo's rows would fail their foreign key).
    const here = await trx
      .selectFrom('directory_users')
      .select('id')
      .where('id', '=', userId)
      .$if(deps.dialect === 'postgres', (q) => q.forNoKeyUpdate())
      .executeTakeFirst();
    if (!here) throw userNotFound(user.upn);
    const previous = await trx
      .selectFrom('mail_photos')
      .select('blob_key')
      .where('user_id', '=', userId)
      .$if(deps.dialect === 'postgres', (q) => q.forUpdate())
      .executeTakeFirst();
    if (!photo && !previous?.blob_key) return [];
    const values = {
      etag: photo?.etag ?? null,
      blob_key: photo?.blobKey ?? null,
      side: photo?.side ?? null,
      byte_size: photo?.byteSize ?? null,
      changed_at: photo?.changedAt ?? Date.now(),
    };
    await trx
      .insertInto('mail_photos')
      .values({ user_id: userId, ...values })
      .onConflict((oc) => oc.column('user_id').doUpdateSet(values))
      .execute();
    const unkept = await trx
      .deleteFrom('mail_photo_renditions')
      .where('user_id', '=', userId)
      .returning('blob_key')
      .execute();
    if (photo && keptRows) {
      await trx
        .insertInto('mail_photo_renditions')
        .values(keptRows.map((row) => ({ user_id: userId, ...row })))
        .execute();
    }
    await record?.(trx);
    return [...(previous?.blob_key ? [previous.blob_key] : []), ...unkept.map((row) => row.blob_key)];
  });
}
