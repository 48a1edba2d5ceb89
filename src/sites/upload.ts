import type { RenditionSizes } from '../config.js';
import type { DirectoryUser } from '../directory/users.js';
import { imageRefused } from '../errors.js';
import { squareJpegsFromUpload } from '../media/media.js';
import type { Services } from '../services.js';
import type { Db } from '../storage/database.js';
import type { UserLock } from '../storage/user-lock.js';
import { renditionSpec } from './library.js';
import { publishRenditions, type SitesDeps } from './profiles.js';

/** SharePoint's limit for SetMyProfilePicture. */
export const SITE_PICTURE_MAX_BYTES = 5_000_000;

type UploadDeps = SitesDeps & { lock: UserLock; sizes: RenditionSizes };

/** What an upload needs of a running app's services, with the rendition sizes set now. */
export function sitePictureDeps(services: Services): UploadDeps {
  const { database, blobs, lock, pictureBytes } = services;
  return { db: database.db, blobs, lock, pictureBytes, sizes: services.syncSettings().renditionSizes };
}

/**
 * "Upload picture" in the sites. For users without a mailbox this is their picture; for users
 * with one it stands only until the next sync replaces it with the mail photo.
 */
export async function uploadSitePicture(
  deps: UploadDeps,
  user: DirectoryUser,
  upload: Buffer,
  /** Written in the commit that switches the renditions (an audit entry). */
  record?: (trx: Db) => Promise<unknown>,
): Promise<void> {
  // One decode for the three sizes: no master is kept for an upload to the sites.
  const sides = [deps.sizes.S, deps.sizes.M, deps.sizes.L];
  const rendered = await squareJpegsFromUpload(upload, { sides, maxBytes: SITE_PICTURE_MAX_BYTES });
  if (!rendered.ok) throw imageRefused(rendered);
  const [S, M, L] = rendered.renditions;
  if (!S || !M || !L) throw new Error('The renderer returned fewer renditions than asked for.');
  const published = await deps.lock.run(user.id, () =>
    publishRenditions(
      deps,
      user,
      {
        jpegs: { S, M, L },
        source: 'upload',
        syncedEtag: null,
        renditionSpec: renditionSpec(deps.sizes),
        at: Date.now(),
      },
      record && { write: record },
    ),
  );
  await published.oldFilesRemoved;
}
