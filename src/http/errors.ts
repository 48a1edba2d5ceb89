import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import { AppError, ERRORS, type ErrorKind } from '../errors.js';
import { classifyError, type Classified } from './classify.js';
import { DRAIN_MAX_BYTES, drainRequest } from './drain.js';
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
  /**
   * The envelope of an address no route has: an API answers those in its own shape, and a browser
   * asking for a page elsewhere gets a page.
   */
  envelopeOfAddress(request: FastifyRequest): Envelope;
  /** The methods that do have a route at this request's address (none: a 404, else a 405). */
  allowedMethods?(request: FastifyRequest): string[];
  /** A page's own address for this one with a trailing slash (GET and HEAD only), to send the browser on to. */
  canonicalPage?(request: FastifyRequest): string | undefined;
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
      // A refusal (4xx) is the request's doing: its reason, not a stack trace of photosync's code.
      const kind: ErrorKind = ERRORS[error.id];
      const detail =
        error.status >= 500 && kind.trace !== false
          ? { err: cause ?? error }
          : { reason: error.message, ...(cause ? { cause: String(cause) } : {}) };
      request.log[level]({ ...detail, id: error.id, url: request.url }, 'request failed');
    }
    // Refused before its body arrived (who is asking, or what they may do, was the answer): close
    // the connection after answering, so the rest of the body is never waited for or read.
    if (unreadBody === 'close' || (unreadBody === undefined && bodyStillArriving(request))) {
      reply.header('connection', 'close');
    }
    // A 503 says when to try again, in every envelope.
    if (error.detail.retryAfterSeconds !== undefined)
      reply.header('retry-after', String(error.detail.retryAfterSeconds));
    if (unreadBody === 'drain') {
      // A body announced larger than a drain reads is not waited for at all (Content-Length: 5 GB).
      const declared = Number(request.raw.headers['content-length']);
      const drained = declared > DRAIN_MAX_BYTES ? false : await drainRequest(request.raw);
      if (!drained) reply.header('connection', 'close');
    }
    // Routes declare their envelope; an address no route has gets the envelope of the API there.
    const envelope = request.routeOptions.config?.envelope ?? handling.envelopeOfAddress(request);
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
}

/**
 * Answers addresses no route has: 405 with Allow when the address takes other methods, else 404.
 * Installed in the plugin whose reply decorators a page needs (the portal's form token).
 */
export function installNotFoundHandler(app: App, handling: ErrorHandling): void {
  const respond = errorResponder(handling);
  app.setNotFoundHandler((request, reply) => {
    const canonical = handling.canonicalPage?.(request);
    if (canonical !== undefined) return reply.redirect(canonical, 301);
    const allowed = handling.allowedMethods?.(request) ?? [];
    if (allowed.length === 0) {
      const path = request.url.split('?')[0] ?? '/';
      const message = /^\/beta(?:\/|$)/.test(path)
        ? `photosync answers Microsoft Graph v1.0, not beta: use ${path.replace(/^\/beta/, '/v1.0')}.`
        : `There is nothing at ${request.url}.`;
      return respond(request, reply, { error: new AppError('not_found', message) });
    }
    reply.header('allow', allowed.join(', '));
    const sentence = `${request.method} is not taken at ${request.url.split('?')[0] ?? '/'}; it takes ${allowed.join(', ')}.`;
    return respond(request, reply, { error: new AppError('method_not_allowed', sentence) });
  });
}

/** The methods each address takes, gathered from the routes as they are added. */
export function routeMethods(app: App): {
  /** The methods other than the request's own that its address takes. */
  allowed(request: FastifyRequest): string[];
  /** Whether a route takes `method` at `path`. */
  takes(method: HTTPMethod, path: string): boolean;
} {
  const router = FindMyWay({ maxParamLength: 300 });
  const seen = new Set<string>();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      const key = `${method} ${route.url}`;
      if (seen.has(key)) continue;
      seen.add(key);
      router.on(method as HTTPMethod, route.url, () => undefined);
    }
  });
  const takes = (method: HTTPMethod, path: string) => router.find(method, path) !== null;
  return {
    allowed(request) {
      const path = request.url.split('?')[0] ?? '/';
      const found = (['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const).filter((method) => takes(method, path));
      // Fastify answers HEAD wherever GET is taken (exposeHeadRoutes).
      return found
        .flatMap((method) => (method === 'GET' ? ['GET', 'HEAD'] : [method]))
        .filter((method) => method !== request.method);
    },
    takes,
  };
}
