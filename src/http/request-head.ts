import type { IncomingMessage } from 'node:http';

// How large a request's head (its request line and header lines) may be. Node refuses a head over
// its maxHeaderSize on the socket itself, from whatever piece of the request it had just read: it
// cannot say whether a browser asked for a page, nor in which language. So Node reads heads up to
// READ_REQUEST_HEAD_BYTES, and photosync refuses those over MAX_REQUEST_HEAD_BYTES itself, first
// thing, with the request parsed: a page in the reader's language for a browser, an API's own
// error otherwise. Only a head over READ_REQUEST_HEAD_BYTES is still Node's to refuse (the JSON
// error, src/http/client-errors.ts).

/** The bytes of request line and header lines photosync takes (Node's own default, 16 KB). */
export const MAX_REQUEST_HEAD_BYTES = 16 * 1024;

/** The bytes of a head Node reads before refusing it outright (its maxHeaderSize). */
export const READ_REQUEST_HEAD_BYTES = 64 * 1024;

/**
 * The bytes of the request's head as it was sent: request line, header lines, the empty line.
 * Node keeps the URL and the header names and values as they came, one character per byte.
 */
export function requestHeadBytes(req: IncomingMessage): number {
  const raw = req.rawHeaders;
  let bytes = req.method!.length + 1 + req.url!.length + 1 + 'HTTP/1.1\r\n'.length + 2;
  // Each line is `name: value\r\n`: the name and its ": ", the value and its line break.
  for (let i = 0; i < raw.length; i++) bytes += raw[i]!.length + 2;
  return bytes;
}

/** Whether the request's head is over what photosync takes. */
export const headTooLarge = (req: IncomingMessage): boolean => requestHeadBytes(req) > MAX_REQUEST_HEAD_BYTES;
