import fs from 'node:fs/promises';
import { COMMAND_LINE, recordAudit } from '../../admin/audit.js';
import { DIRECTORY_PHOTO_MAX_BYTES, setDirectoryPhoto } from '../../directory/photo.js';
import { isAppError } from '../../errors.js';
import { removeMailPhoto, setMailPhoto, MAIL_PHOTO_MAX_BYTES } from '../../mail/photo-store.js';
import type { Services } from '../../services.js';
import { sitePictureDeps, uploadSitePicture, SITE_PICTURE_MAX_BYTES } from '../../sites/upload.js';
import type { CommandHandler } from '../command.js';
import { CliError, fileProblem, UsageError } from '../output.js';
import { requireUser } from './users.js';

async function readImage(file: string | undefined, limit: number): Promise<Buffer> {
  if (!file) throw new UsageError('Name the image file, e.g. photo.jpg.');
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) throw new CliError(`${file} is not a file.`);
    // Refuse a huge file before reading it into memory.
    if (stat.size > limit)
      throw new CliError(`${file} is ${formatBytes(stat.size, limit)}; the limit is ${formatBytes(limit, stat.size)}.`);
    return await fs.readFile(file);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(fileProblem(file, error));
  }
}

/** Names the file when the image itself is refused (damaged, unsupported, too many pixels). */
async function withFile<T>(file: string | undefined, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (file && isAppError(error) && [400, 413, 415].includes(error.status)) {
      throw new CliError(`${file} was refused: ${error.message}`);
    }
    throw error;
  }
}

export const photoSet: CommandHandler = async ({ args: [upn, file], services, print }) => {
  print(await setMailPhotoCommand(await services(), upn, file));
};

export const photoRemove: CommandHandler = async ({ args: [upn], services, print }) => {
  print(await removeMailPhotoCommand(await services(), upn));
};

export const directoryPhotoSet: CommandHandler = async ({ args: [upn, file], services, print }) => {
  print(await setDirectoryPhotoCommand(await services(), upn, file));
};

export const sitePhotoSet: CommandHandler = async ({ args: [upn, file], services, print }) => {
  print(await setSitePhotoCommand(await services(), upn, file));
};

async function setMailPhotoCommand(services: Services, upn?: string, file?: string): Promise<string> {
  const user = await requireUser(services, upn);
  const bytes = await readImage(file, MAIL_PHOTO_MAX_BYTES);
  // The same picture again changes nothing (unless its file was lost): recorded when it changed,
  // in the commit that changes it.
  const photo = await withFile(file, () =>
    setMailPhoto(services.mailStore, user, bytes, (trx, stored) =>
      recordAudit(trx, COMMAND_LINE, 'photo_set', { upn: user.upn, etag: stored.etag }),
    ),
  );
  return `Mail photo of ${user.upn} is now ${photo.side}x${photo.side}, ETag "${photo.etag}". The sites take it at the user's next sync action.`;
}

async function removeMailPhotoCommand(services: Services, upn?: string): Promise<string> {
  const user = await requireUser(services, upn);
  const removed = await removeMailPhoto(services.mailStore, user, (trx) =>
    recordAudit(trx, COMMAND_LINE, 'photo_removed', { upn: user.upn }),
  );
  return removed
    ? `Removed the mail photo of ${user.upn}. The sites show the placeholder after the user's next sync action.`
    : `${user.upn} had no mail photo; nothing changed.`;
}

async function setDirectoryPhotoCommand(services: Services, upn?: string, file?: string): Promise<string> {
  const user = await requireUser(services, upn);
  const bytes = await readImage(file, DIRECTORY_PHOTO_MAX_BYTES);
  // The same picture again stores the same JPEG: recorded when it changed, in the same commit.
  await withFile(file, () =>
    setDirectoryPhoto(services.database.db, user.id, bytes, DIRECTORY_PHOTO_MAX_BYTES, (trx) =>
      recordAudit(trx, COMMAND_LINE, 'directory_photo_set', { upn: user.upn }),
    ),
  );
  return `Directory photo (thumbnailPhoto) of ${user.upn} set. The sites never use it; they take photos from the mail service only.`;
}

async function setSitePhotoCommand(services: Services, upn?: string, file?: string): Promise<string> {
  const user = await requireUser(services, upn);
  const bytes = await readImage(file, SITE_PICTURE_MAX_BYTES);
  await withFile(file, () =>
    uploadSitePicture(
      sitePictureDeps(services),
      user,
      bytes,
      // Every upload publishes new renditions, so it always changes the sites' picture.
      (trx) => recordAudit(trx, COMMAND_LINE, 'site_photo_set', { upn: user.upn }),
    ),
  );
  return user.hasMailbox
    ? `Site picture of ${user.upn} set. ${user.upn} has a mailbox, so the next sync replaces it with the mail photo.`
    : `Site picture of ${user.upn} set.`;
}

/** Size for a person; exact bytes when rounding would make the two sizes compared look equal. */
function formatBytes(bytes: number, other: number): string {
  const rounded = (n: number) =>
    n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(n / 1024)} KB`;
  return rounded(bytes) === rounded(other) ? `${bytes.toLocaleString('en-US')} bytes` : rounded(bytes);
}
