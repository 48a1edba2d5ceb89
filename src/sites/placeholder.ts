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

/** SharePoint's own address of the placeholder, which pages and clients link to directly. */
export const PLACEHOLDER_PATH = '/_layouts/15/images/PersonPlaceholder.96x96x32.png';

let png: Promise<{ png: Buffer; etag: string }> | undefined;

/** The same silhouette as SharePoint publishes it: a 96 px PNG. */
export function placeholderPng(): Promise<{ png: Buffer; etag: string }> {
  png ??= rasterizeSvg(SILHOUETTE, 96, 'png').then((bytes) => ({ png: bytes, etag: contentTag(bytes) }));
  return png;
}
