import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import type { RequestDeadlines } from '../config.js';
import { AppError, ERRORS } from '../errors.js';
import type { ErrorBody } from './errors.js';

// What Node's HTTP server cannot hand to a route: bytes that are not HTTP, headers too large, and a
// request that did not arrive in time (`headersTimeout`, `requestTimeout`, which also end a body
// that trickles in). Node answers those on the socket itself; this answer is photosync's JSON with
// the same security headers as every other answer, and the connection is closed. A form posted
// from a page whose body did not arrive in time (a photo over a slow connection) gets a page in
// the person's language instead.

export interface ClientErrorOptions {
  deadlines: RequestDeadlines;
  /** The headers every answer carries (the pages' set). */
  securityHeaders: Record<string, string>;
  log: FastifyBaseLogger;
  /** The page to answer with when the socket's request came from a page's form; undefined otherwise. */
  page?: (socket: Duplex, refusal: AppError) => string | undefined;
}

const seconds = (n: number) => `${n} second${n === 1 ? '' : 's'}`;

/** The catalogue's error for a client error Node raised, and its HTTP status. */
export function describeClientError(code: string | undefined, deadlines: RequestDeadlines): AppError {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new AppError(
      'request_timeout',
      `The request did not arrive within ${seconds(deadlines.requestSeconds)} ` +
        `(its headers within ${seconds(deadlines.headersSeconds)}); the connection is closed. Send it again.`,
    );
  }
  if (code === 'HPE_HEADER_OVERFLOW') return new AppError('headers_too_large', 'The request headers are too large.');
  return new AppError('invalid_request', 'The request is not valid HTTP.');
}

/** The server's `clientError` listener (Fastify's `clientErrorHandler` option). */
export function clientErrorHandler(options: ClientErrorOptions) {
  return (error: NodeJS.ErrnoException, socket: Duplex): void => {
    // A reset connection has nobody left to answer.
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const refusal = describeClientError(error.code, options.deadlines);
    const level = ERRORS[refusal.id].log;
    options.log[level]({ code: error.code, id: refusal.id }, 'client error');
    if (socket.writable) {
      const page = options.page?.(socket, refusal);
      const body =
        page ?? JSON.stringify({ error: { code: refusal.id, message: refusal.message } } satisfies ErrorBody);
      const headers = {
        ...options.securityHeaders,
        'content-type': page === undefined ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8',
        'content-length': String(Buffer.byteLength(body)),
        connection: 'close',
      };
      const head = [
        `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ''}`,
        ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
      ].join('\r\n');
      socket.write(`${head}\r\n\r\n${body}`);
    }
    socket.destroy(error);
  };
}
