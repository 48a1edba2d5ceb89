import type { IncomingMessage } from 'node:http';

/** The most of a refused body read before answering; a body announced larger is not read at all. */
export const DRAIN_MAX_BYTES = 64 * 1024 * 1024;
/** The longest a refused body is waited for: a sender that stalls gets its answer, and the connection closes. */
export const DRAIN_MAX_MS = 5_000;

/**
 * Reads and discards the rest of a request body that was refused as too large, so the client,
 * still sending, gets the error response instead of a broken connection. True when the body was
 * read to its end; false when it gave up (after `maxBytes` or `maxMs`): then the connection must
 * be closed after the answer.
 */
export function drainRequest(raw: IncomingMessage, maxBytes = DRAIN_MAX_BYTES, maxMs = DRAIN_MAX_MS): Promise<boolean> {
  if (raw.readableEnded) return Promise.resolve(true);
  if (raw.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    let seen = 0;
    const finish = (ended: boolean) => {
      clearTimeout(timer);
      raw.off('data', onData);
      raw.off('end', onEnd);
      raw.off('error', gaveUp);
      raw.off('close', gaveUp);
      if (!ended) raw.pause();
      resolve(ended);
    };
    const onEnd = () => finish(true);
    const gaveUp = () => finish(false);
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBytes) finish(false);
    };
    const timer = setTimeout(gaveUp, maxMs);
    // Whatever was reading the body (the body budget's counter) reads no more: the rest is discarded.
    raw.unpipe();
    raw.on('data', onData);
    raw.once('end', onEnd);
    raw.once('error', gaveUp);
    raw.once('close', gaveUp);
    raw.resume();
  });
}
