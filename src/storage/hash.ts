import { createHash } from 'node:crypto';

/** A strong validator for bytes: the first 64 bits of their SHA-256, as upper-case hex. */
export function contentTag(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16).toUpperCase();
}
