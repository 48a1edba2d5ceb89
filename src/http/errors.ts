import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ERRORS } from '../errors.js';
import { classifyError, type Classified } from './classify.js';
import { drainRequest } from './drain.js';
import type { App, Envelope } from './types.js';

// The one error handler. Every error, whatever threw it, goes through the classifier to an id of
// the catalogue, is logged at that id's level, and is answered in the envelope the route declared
// (config.envelope). Addresses no route has are answered in the envelope of the API mounted there.

export interface ErrorBody {
  error: { code: string; message: string };
}

/** Answers one error in one envelope's shape. */
export type ErrorRenderer = (request: FastifyRequest, reply: FastifyReply, error: AppError) => unknown;

export interface ErrorHandling {
  /** One renderer per envelope. */
  renderers: Record<Envelope, ErrorRenderer>;
  /** The envelope of an address no route has (an API answers those in its own shape). */
  envelopeOfPath(path: string): Envelope;
  /** Whether a log line at this level would be written (so unwritten ones cost nothing). */
  logs(level: 'debug' | 'info' | 'warn' | 'error'): boolean;
}

/** photosync's own JSON envelope: `{"error":{"code":"<id>","message":"…"}}`. */
export const renderJsonError: ErrorRenderer = (_request, reply, error) =>
  reply.status(error.status).send({ error: { code: error.id, message: error.message } } satisfies ErrorBody);

/** Sends a classified error: logs it, deals with an unread body, renders it in the route's envelope. */
export function errorResponder(handling: ErrorHandling) {
  return async function respond(request: FastifyRequest, reply: FastifyReply, classified: Classified) {
    const { error, unreadBody, cause } = classified;
    const level = ERRORS[error.id].log;
    if (handling.logs(level)) {
      request.log[level]({ err: cause ?? error, id: error.id, url: request.url }, 'request failed');
    }
    // Refused before its body arrived (who is asking, or what they may do, was the answer): close
    // the connection after answering, so the rest of the body is never waited for or read.
    if (unreadBody === 'close' || (unreadBody === undefined && bodyStillArriving(request))) {
      reply.header('connection', 'close');
    }
    // A 503 says when to try again, in every envelope.
    if (error.detail.retryAfterSeconds !== undefined)
      reply.header('retry-after', String(error.detail.retryAfterSeconds));
    if (unreadBody === 'drain') await drainRequest(request.raw);
    // Routes declare their envelope; an address no route has gets the envelope of the API there.
    const envelope = request.routeOptions.config?.envelope ?? handling.envelopeOfPath(request.url);
    return handling.renderers[envelope](request, reply, error);
  };
}

/** The request announced a body that has not all arrived yet. */
export function bodyStillArriving(request: FastifyRequest): boolean {
  const { raw } = request;
  if (raw.complete) return false;
  const length = raw.headers['content-length'];
  return (length !== undefined && length !== '0') || raw.headers['transfer-encoding'] !== undefined;
}

export function installErrorHandler(app: App, handling: ErrorHandling): void {
  const respond = errorResponder(handling);
  app.setErrorHandler((thrown: FastifyError, request, reply) =>
    respond(request, reply, classifyError(thrown, request.routeOptions.bodyLimit)),
  );
  app.setNotFoundHandler((request, reply) =>
    respond(request, reply, { error: new AppError('not_found', `There is nothing at ${request.url}.`) }),
  );
}
