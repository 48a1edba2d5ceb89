import type { FastifyError, FastifyInstance } from 'fastify';
import { isAppError } from '../errors.js';

export interface ErrorBody {
  error: { code: string; message: string };
}

/** One error shape for every route. 5xx details go to the log, never to the client. */
export function installErrorHandler(app: FastifyInstance): void {
  // Every envelope's handler (Graph, SharePoint, pages) runs after this, so a 503 that says when
  // to try again says it in all of them.
  app.addHook('onError', async (_request, reply, error) => {
    if (isAppError(error) && error.retryAfterSeconds !== undefined) {
      void reply.header('retry-after', String(error.retryAfterSeconds));
    }
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (isAppError(error)) {
      return reply.status(error.status).send({ error: { code: error.id, message: error.message } } satisfies ErrorBody);
    }
    if (error.validation) {
      const message = `The request is not valid: ${error.message}.`;
      return reply.status(400).send({ error: { code: 'invalid_request', message } } satisfies ErrorBody);
    }
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status < 500) {
      return reply.status(status).send({ error: { code: error.code ?? 'bad_request', message: error.message } });
    }
    request.log.error({ err: error }, 'request failed');
    return reply
      .status(500)
      .send({ error: { code: 'internal_error', message: 'Something went wrong on our side. Please try again.' } });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ error: { code: 'not_found', message: `There is nothing at ${request.url}.` } }),
  );
}
