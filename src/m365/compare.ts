import { comparePictures, pictureFingerprint } from '../media/media.js';
import { noteThrottle, type M365Connection } from './connection.js';
import { describeError } from './errors.js';
import { runBatched } from './batch.js';
import { THROTTLED_RETRY_MS } from './retry.js';
import { graphBatchSender, smallPhotoFrom, smallPhotoRequest, type SmallPhoto } from './graph.js';
import type { PictureComparison, ProfilePicture, TenantUser } from './model.js';
import { readLibraryFile, smallThumbnailPath } from './sharepoint.js';

// The one case that needs pictures: nothing is known about this Exchange photo and this
// SharePoint picture together. Two tiny images are read — the Exchange photo at 64 px, in Graph
// batches of 20, and SharePoint's 48 px S thumbnail — never the 648 px photo, and compared by
// perceptual hash.

export interface ComparisonOutcome {
  comparison: PictureComparison;
  /** Why it could not tell, when it could not. */
  detail?: string;
  /** Set when it could not tell because a picture could not be read (not because they are too close to call). */
  unread?: boolean;
  imageBytes: number;
}

/** Graph sizes tried in turn: 64 px, or 48 px when the user's photo is smaller than 64. */
const EXCHANGE_SIZES = ['64x64', '48x48'];

/**
 * These users' Exchange photos at 64 px, in JSON batches of 20 (a batch answers a photo's bytes as
 * base64); at 48 px for those Graph has no 64 px size of (a photo smaller than 64 px).
 */
export async function readSmallPhotos(
  connection: M365Connection,
  userIds: readonly string[],
  concurrency: number,
): Promise<Map<string, SmallPhoto>> {
  const { clock, http, settings } = connection;
  const photos = new Map<string, SmallPhoto>();
  let asking = [...userIds];
  for (const size of EXCHANGE_SIZES) {
    if (asking.length === 0) break;
    const run = await runBatched(
      asking.map((id) => smallPhotoRequest(id, size)),
      graphBatchSender(http, settings.graphUrl, clock.now),
      {
        clock,
        concurrency,
        maxAttempts: 8,
        throttledForMs: THROTTLED_RETRY_MS,
        onThrottled: (ms) => noteThrottle(connection.throttled, ms, clock.now()),
      },
    );
    const smaller: string[] = [];
    for (const id of asking) {
      const photo = smallPhotoFrom(run.results.get(id));
      photos.set(id, photo);
      if (photo.kind === 'none') smaller.push(id);
    }
    asking = smaller;
  }
  return photos;
}

/** Compares the user's small Exchange photo (from readSmallPhotos) with SharePoint's S thumbnail. */
export async function compareWithSharePoint(
  connection: M365Connection,
  user: TenantUser,
  profile: ProfilePicture,
  small: SmallPhoto | undefined,
): Promise<ComparisonOutcome> {
  if (profile.kind !== 'profile') return { comparison: 'unknown', detail: 'no profile picture', imageBytes: 0 };
  const { http, settings } = connection;
  let imageBytes = 0;
  try {
    if (!small || small.kind === 'error')
      return {
        comparison: 'unknown',
        detail: small?.message ?? 'the Exchange photo was not read',
        unread: true,
        imageBytes,
      };
    if (small.kind === 'none') return { comparison: 'unknown', detail: 'Graph has no 64 or 48 px photo', imageBytes };
    const exchange = small.bytes;
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
    return { comparison: 'unknown', detail: describeError(error), unread: true, imageBytes };
  }
}
