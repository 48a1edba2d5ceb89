import { rasterizeSvg } from '../media/media.js';
import { contentTag } from '../storage/hash.js';

// The generic picture the sites show for someone without one: a grey silhouette.

const SILHOUETTE = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
  <rect width="100" height="100" fill="#e1dfdd"/>
  <circle cx="50" cy="38" r="18" fill="#a19f9d"/>
  <path d="M14 100c0-22 16-36 36-36s36 14 36 36z" fill="#a19f9d"/>
</svg>`;

export interface Placeholder {
  jpeg: Buffer;
  etag: string;
}

const cache = new Map<number, Promise<Placeholder>>();

export function placeholderJpeg(side: number): Promise<Placeholder> {
  let entry = cache.get(side);
  if (!entry) {
    entry = rasterizeSvg(SILHOUETTE, side).then((jpeg) => ({ jpeg, etag: `P${contentTag(jpeg)}` }));
    cache.set(side, entry);
  }
  return entry;
}
