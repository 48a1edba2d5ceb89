import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isAppError } from '../errors.js';
import { drainRequest } from '../http/drain.js';

// Microsoft Graph's error envelope:
// {"error":{"code":"ImageNotFound","message":"…","innerError":{"date":"…","request-id":"…","client-request-id":"…"}}}
// Every Graph response carries a request-id header; the same id is in the body of an error.

export class GraphError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'GraphError';
  }
}

export const GraphErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      innerError: Type.Object({
        date: Type.String(),
        'request-id': Type.String(),
        'client-request-id': Type.String(),
      }),
    }),
  },
  { $id: 'GraphError', description: "Microsoft Graph's error envelope." },
);

export const graphErrorResponses = {
  400: Type.Ref(GraphErrorBody),
  401: Type.Ref(GraphErrorBody),
  403: Type.Ref(GraphErrorBody),
  404: Type.Ref(GraphErrorBody),
} as const;

export const graphErrors = {
  unauthenticated: (message: string) => new GraphError(401, 'InvalidAuthenticationToken', message),
  accessDenied: () => new GraphError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.'),
  userNotFound: (id: string) =>
    new GraphError(
      404,
      'Request_ResourceNotFound',
      `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
    ),
  imageNotFound: (message = 'The user has no profile photo.') => new GraphError(404, 'ImageNotFound', message),
  noMailbox: () =>
    new GraphError(
      404,
      'MailboxNotEnabledForRESTAPI',
      'The user has no mailbox, so there is no mail photo. Set a picture in the sites instead.',
    ),
  meNeedsUser: () =>
    new GraphError(
      400,
      'BadRequest',
      '/me request is only valid with delegated authentication flow. Use /users/{id} with an app token.',
    ),
  invalidImage: (message: string) => new GraphError(400, 'ErrorInvalidImage', message),
  tooLarge: () => new GraphError(413, 'RequestEntityTooLarge', 'The photo is larger than 4 MB; send a smaller image.'),
};

const REQUEST_ID = 'request-id';

function requestIdOf(request: FastifyRequest, reply: FastifyReply): string {
  const existing = reply.getHeader(REQUEST_ID);
  if (typeof existing === 'string') return existing;
  const id = randomUUID();
  void reply.header(REQUEST_ID, id);
  const clientId = request.headers['client-request-id'];
  if (typeof clientId === 'string') void reply.header('client-request-id', clientId);
  return id;
}

export function sendGraphError(request: FastifyRequest, reply: FastifyReply, error: GraphError) {
  const requestId = requestIdOf(request, reply);
  const clientId = request.headers['client-request-id'];
  return reply.status(error.status).send({
    error: {
      code: error.code,
      message: error.message,
      innerError: {
        date: new Date().toISOString().slice(0, 19),
        'request-id': requestId,
        'client-request-id': typeof clientId === 'string' ? clientId : requestId,
      },
    },
  });
}

/** Inside the /v1.0 plugin: request ids, and every error (ours, Fastify's, a 404) in Graph's envelope. */
export function installGraphErrors(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    requestIdOf(request, reply);
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof GraphError) return sendGraphError(request, reply, error);
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return drainRequest(request.raw).then(() => sendGraphError(request, reply, graphErrors.tooLarge()));
    }
    if (isAppError(error) && error.status < 500) {
      return sendGraphError(request, reply, new GraphError(error.status, error.id, error.message));
    }
    // Graph's own answer when it is too busy; Retry-After is set by the app's onError hook.
    if (isAppError(error) && error.status === 503) {
      return sendGraphError(request, reply, new GraphError(503, 'serviceNotAvailable', error.message));
    }
    if (error.validation) {
      return sendGraphError(
        request,
        reply,
        new GraphError(400, 'BadRequest', `The request is not valid: ${error.message}.`),
      );
    }
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status < 500) return sendGraphError(request, reply, new GraphError(status, 'BadRequest', error.message));
    request.log.error({ err: error }, 'graph request failed');
    return sendGraphError(
      request,
      reply,
      new GraphError(500, 'generalException', 'Something went wrong on our side. Please try again.'),
    );
  });
  app.setNotFoundHandler((request, reply) =>
    sendGraphError(
      request,
      reply,
      new GraphError(400, 'BadRequest', `Resource not found for the segment in ${request.url.split('?')[0] ?? ''}.`),
    ),
  );
}
