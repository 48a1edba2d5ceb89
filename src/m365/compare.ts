import { comparePictures, pictureFingerprint } from '../media/media.js';
import type { M365Connection } from './connection.js';
import { describeError } from './errors.js';
import { downloadPhoto } from './graph.js';
import type { PictureComparison, ProfilePicture, TenantUser } from './model.js';
import { readLibraryFile, smallThumbnailPath } from './sharepoint.js';

// The one case that needs pictures: nothing is known about this Exchange photo and this
// SharePoint picture together. Two tiny images are read — the Exchange photo at 64 px and
// SharePoint's 48 px S thumbnail — never the 648 px photo, and compared by perceptual hash.

export interface ComparisonOutcome {
  comparison: PictureComparison;
  /** Why it could not tell, when it could not. */
  detail?: string;
  imageBytes: number;
}

/** Graph sizes tried in turn: 64 px, or 48 px when the user's photo is smaller than 64. */
const EXCHANGE_SIZES = ['64x64', '48x48'];

export async function compareWithSharePoint(
  connection: M365Connection,
  user: TenantUser,
  profile: ProfilePicture,
): Promise<ComparisonOutcome> {
  if (profile.kind !== 'profile') return { comparison: 'unknown', detail: 'no profile picture', imageBytes: 0 };
  const { http, settings } = connection;
  let imageBytes = 0;
  try {
    let exchange: Buffer | undefined;
    for (const size of EXCHANGE_SIZES) {
      const photo = await downloadPhoto(http, settings.graphUrl, user.id, size);
      if (photo.kind === 'photo') {
        exchange = photo.bytes;
        break;
      }
    }
    if (!exchange) return { comparison: 'unknown', detail: 'Graph has no 64 or 48 px photo', imageBytes };
    imageBytes += exchange.length;
    const path = smallThumbnailPath(settings, user.upn, profile.pictureUrl);
    const thumbnail = await readLibraryFile(http, settings, path);
    if (thumbnail.kind === 'none') return { comparison: 'unknown', detail: `${path} does not exist`, imageBytes };
    imageBytes += thumbnail.bytes.length;
    const [a, b] = await Promise.all([pictureFingerprint(exchange), pictureFingerprint(thumbnail.bytes)]);
    if (!a.ok) return { comparison: 'unknown', detail: `the Exchange photo cannot be read (${a.reason})`, imageBytes };
    if (!b.ok) return { comparison: 'unknown', detail: `${path} cannot be read (${b.reason})`, imageBytes };
    return { comparison: comparePictures(a.fingerprint, b.fingerprint), imageBytes };
  } catch (error) {
    return { comparison: 'unknown', detail: describeError(error), imageBytes };
  }
}
