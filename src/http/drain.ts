import type { IncomingMessage } from 'node:http';

/**
 * Reads and discards the rest of a request body that was refused as too large, so the client,
 * still sending, gets the error response instead of a broken connection. Gives up after
 * `maxBytes`, when the connection is closed anyway.
 */
export function drainRequest(raw: IncomingMessage, maxBytes = 64 * 1024 * 1024): Promise<void> {
  if (raw.readableEnded || raw.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const finish = () => {
      raw.off('data', onData);
      raw.off('end', finish);
      raw.off('error', finish);
      raw.off('close', finish);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBytes) finish();
    };
    raw.on('data', onData);
    raw.once('end', finish);
    raw.once('error', finish);
    raw.once('close', finish);
    raw.resume();
  });
}
