import type { FastifyReply, FastifyRequest } from 'fastify';

// Conditional requests for every route that sends bytes (pictures, photos, the stylesheet and the
// script): the strong ETag, Cache-Control and Vary a response carries, and whether the client's
// If-None-Match already names it (RFC 9110 §13.1.2), which makes the answer a 304 without a body.

/** How long a client may keep what it got, and whether it must ask again first. */
export const CACHE_CONTROL = {
  /** Keep it, but ask every time (a 304 costs no bytes): the URL's content can change. */
  revalidate: 'private, no-cache',
  /** A versioned URL (`?t=`, `?v=`) whose content never changes: keep it for a year. */
  immutable: 'private, max-age=31536000, immutable',
  /** The same for everyone and rarely changed (the stylesheet, the script): five minutes. */
  shared: 'public, max-age=300',
} as const;
export type CacheControl = (typeof CACHE_CONTROL)[keyof typeof CACHE_CONTROL];

export interface Representation {
  /** The representation's opaque tag, unquoted (`4a1f…`): sent as the strong ETag `"4a1f…"`. */
  tag: string;
  cacheControl: CacheControl;
  /** The request headers the answer depends on (`Authorization, Cookie` for one person's picture). */
  vary?: string;
}

/** The strong entity tag for an opaque tag: `"tag"`. */
export function strongEtag(tag: string): string {
  return `"${tag}"`;
}

/**
 * The opaque tags an If-None-Match value lists, `W/` or not (`W/"a", "b"` → a, b), or '*' for
 * any current representation. Members that are not entity tags are skipped; a comma inside the
 * quotes belongs to the tag.
 */
export function ifNoneMatchTags(header: string): string[] | '*' {
  if (header.trim() === '*') return '*';
  const tags: string[] = [];
  const member = /\s*(?:W\/)?"([^"]*)"\s*(?:,|$)|[^,]*(?:,|$)/gy;
  for (let match = member.exec(header); match && match[0] !== ''; match = member.exec(header)) {
    if (match[1] !== undefined) tags.push(match[1]);
  }
  return tags;
}

/**
 * Whether If-None-Match names the current representation, by the weak comparison RFC 9110 asks
 * for: `W/"x"` and `"x"` both name the strong tag `"x"`; `*` names any representation.
 */
export function ifNoneMatchNames(header: string | undefined, tag: string): boolean {
  if (header === undefined) return false;
  const tags = ifNoneMatchTags(header);
  return tags === '*' || tags.includes(tag);
}

/**
 * Sets the response's ETag, Cache-Control and Vary; true when the client already has this
 * representation, and then the caller answers 304 (`reply.status(304).send()`) without reading
 * any bytes.
 */
export function clientHasCurrent(
  request: FastifyRequest,
  reply: FastifyReply,
  representation: Representation,
): boolean {
  reply.header('etag', strongEtag(representation.tag)).header('cache-control', representation.cacheControl);
  if (representation.vary) reply.header('vary', representation.vary);
  return ifNoneMatchNames(request.headers['if-none-match'], representation.tag);
}
