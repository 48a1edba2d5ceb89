import { renderSquareJpegs } from '../media/media.js';
import type { BlobStore } from '../storage/blob-store.js';
import { createByteCache } from '../storage/byte-cache.js';
import { readMailMaster, type MailPhoto } from './photo-store.js';

// The square sizes Exchange serves through Microsoft Graph. They are derived from the master on
// demand: most are never asked for, and a cached size is keyed by the master's ETag, so it can
// never outlive the photo it was made from.

export const GRAPH_PHOTO_SIDES = [48, 64, 96, 120, 240, 360, 432, 504, 648] as const;

/** Sizes above the stored master are not available, as in Exchange. */
export function availableSides(photo: MailPhoto): number[] {
  return GRAPH_PHOTO_SIDES.filter((side) => side <= photo.side);
}

/** Each size has its own strong ETag; the master's is the photo's own. */
export function sizeEtag(photo: MailPhoto, side: number): string {
  return side === photo.side ? photo.etag : `${photo.etag}-${side}`;
}

export function createMailPhotoSizes(blobs: BlobStore, cacheBytes = 16 * 1024 * 1024) {
  const cache = createByteCache(cacheBytes);
  return {
    /** The photo at `side` px (the master at its own side), or undefined when that size is not available. */
    async read(photo: MailPhoto, side: number): Promise<Buffer | undefined> {
      if (side === photo.side) return readMailMaster(blobs, photo);
      if (!availableSides(photo).includes(side)) return undefined;
      const key = `${photo.etag}:${side}`;
      const cached = cache.get(key);
      if (cached) return cached;
      const [rendered] = await renderSquareJpegs(await readMailMaster(blobs, photo), [side]);
      if (!rendered) throw new Error('The renderer returned no image.');
      cache.set(key, rendered.jpeg);
      return rendered.jpeg;
    },
  };
}

export type MailPhotoSizes = ReturnType<typeof createMailPhotoSizes>;
