import { MAX_REQUEST_HEAD_BYTES } from './request-head.js';

// The headers of the requests inside a batch (SharePoint's OData $batch and Graph's JSON
// batching) that belong to the batch itself, and the headers of each answer that the batch
// passes on. Both batches run each request as if sent alone, so what they drop and keep is one list.

/**
 * Headers a request in a batch cannot set, as they are the batch's own: who asks (Authorization,
 * Cookie, SharePoint's X-RequestDigest: the batch's credentials, passed on where the batch passes
 * them), from where (Host and the headers a trusted proxy adds), how it travels (length, framing,
 * hop-by-hop headers, the MIME part's Content-Transfer-Encoding) and its method (X-HTTP-Method,
 * which SharePoint's batch reads as the request's method before dropping it).
 */
const BATCH_OWN_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'cookie',
  'x-requestdigest',
  'host',
  'forwarded',
  'x-real-ip',
  'content-length',
  'transfer-encoding',
  'content-transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'x-http-method',
]);

/** Whether a request in a batch may not set this header (name in lower case): the batch's own. */
export const isBatchOwnHeader = (name: string): boolean =>
  BATCH_OWN_HEADERS.has(name) || name.startsWith('x-forwarded-') || name.startsWith('proxy-');

/**
 * The headers of an answer inside a batch that the batch passes on (names in lower case); Allow
 * among them, as a 405 names the methods its address takes (RFC 9110).
 */
export const BATCH_ANSWER_HEADERS: readonly string[] = [
  'content-type',
  'etag',
  'location',
  'retry-after',
  'cache-control',
  'allow',
];

/**
 * The bytes of header lines a request inside a batch may have: what photosync takes in the head of
 * a request sent alone (16 KB), which it answers with 431.
 */
export const MAX_BATCHED_HEADER_BYTES = MAX_REQUEST_HEAD_BYTES;

/** The bytes of `Name: value` header lines, each with its line break. */
export function headerLineBytes(lines: Iterable<readonly [string, string]>): number {
  let bytes = 0;
  for (const [name, value] of lines) bytes += Buffer.byteLength(name) + 2 + Buffer.byteLength(value) + 2;
  return bytes;
}
