import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { forbidden, invalidInput, notFound, type AppError, type CredentialProblem, type ErrorId } from '../errors.js';

// Microsoft Graph's error envelope:
// {"error":{"code":"ImageNotFound","message":"…","innerError":{"date":"…","request-id":"…","client-request-id":"…"}}}
// Every Graph response carries a request-id header; the same id is in the body of an error.
// Graph's code (and status, where Graph's differs) for each error id of the catalogue is here.

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

const INVALID_IMAGE = { code: 'ErrorInvalidImage' };

/** Graph's codes for the catalogue's ids: 400 BadRequest, 5xx generalException for the others. */
const GRAPH_CODES: Partial<Record<ErrorId, { code: string; status?: number }>> = {
  invalid_request: { code: 'BadRequest' },
  unsupported_query: { code: 'Request_UnsupportedQuery' },
  image_empty: INVALID_IMAGE,
  image_corrupt: INVALID_IMAGE,
  image_too_many_pixels: INVALID_IMAGE,
  image_side_too_long: INVALID_IMAGE,
  image_aspect_too_extreme: INVALID_IMAGE,
  image_too_many_scans: INVALID_IMAGE,
  image_decode_timeout: INVALID_IMAGE,
  unsupported_type: { ...INVALID_IMAGE, status: 400 },
  unauthorized: { code: 'InvalidAuthenticationToken' },
  forbidden: { code: 'ErrorAccessDenied' },
  profile_forbidden: { code: 'Authorization_RequestDenied' },
  // Graph answers an address it does not have with 400.
  not_found: { code: 'BadRequest', status: 400 },
  user_not_found: { code: 'Request_ResourceNotFound' },
  photo_not_found: { code: 'ImageNotFound' },
  mailbox_not_found: { code: 'MailboxNotEnabledForRESTAPI' },
  too_large: { code: 'RequestEntityTooLarge' },
  upload_too_many_parts: { code: 'RequestEntityTooLarge' },
  rate_limited: { code: 'TooManyRequests' },
  internal_error: { code: 'generalException' },
  // Graph's own answer when it is too busy (with Retry-After).
  unavailable: { code: 'serviceNotAvailable' },
  image_queue_full: { code: 'serviceNotAvailable' },
  storage_full: { code: 'serviceNotAvailable' },
  storage_read_only: { code: 'serviceNotAvailable' },
  storage_damaged: { code: 'serviceNotAvailable' },
  database_busy: { code: 'serviceNotAvailable' },
  database_unavailable: { code: 'serviceNotAvailable' },
};

/** Graph's words for credentials that do not hold. */
const UNAUTHENTICATED: Record<CredentialProblem, string> = {
  missing: 'Access token is empty.',
  malformed: 'The Authorization header must be "Bearer <token>".',
  invalid: 'Access token validation failure. Invalid signature, unknown token or revoked app.',
  expired: 'Lifetime validation failed, the token is expired.',
  audience: 'Invalid audience: the token was not issued for this server.',
};

/** The errors Graph's routes throw, in Graph's words. */
export const graphErrors = {
  accessDenied: () => forbidden('Access is denied. Check credentials and try again.'),
  profileDenied: () => forbidden('Insufficient privileges to complete the operation.', 'profile_forbidden'),
  userNotFound: (id: string) =>
    notFound(
      `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
      'user_not_found',
    ),
  imageNotFound: (message = 'The user has no profile photo.') => notFound(message, 'photo_not_found'),
  noMailbox: () =>
    notFound(
      'The user has no mailbox, so there is no mail photo. Set a picture in the sites instead.',
      'mailbox_not_found',
    ),
  meNeedsUser: () =>
    invalidInput(
      '/me request is only valid with delegated authentication flow. Use /users/{id} with an app token.',
      'invalid_request',
    ),
};

const REQUEST_ID = 'request-id';

/** The response's request-id, set (with the client's client-request-id echoed) on first use. */
export function requestIdOf(request: FastifyRequest, reply: FastifyReply): string {
  const existing = reply.getHeader(REQUEST_ID);
  if (typeof existing === 'string') return existing;
  const id = randomUUID();
  void reply.header(REQUEST_ID, id);
  const clientId = request.headers['client-request-id'];
  if (typeof clientId === 'string') void reply.header('client-request-id', clientId);
  return id;
}

function graphMessage(request: FastifyRequest, error: AppError): string {
  if (error.id === 'unauthorized') return UNAUTHENTICATED[error.detail.credentials ?? 'missing'];
  const path = request.url.split('?')[0] ?? '';
  // Graph's beta is not answered: its message points to v1.0 (see the not-found handler).
  if (error.id === 'not_found' && !/^\/beta(?:\/|$)/.test(path))
    return `Resource not found for the segment in ${path}.`;
  return error.message;
}

/** The Graph envelope of an error. */
export function renderGraphError(request: FastifyRequest, reply: FastifyReply, error: AppError) {
  const graph = GRAPH_CODES[error.id];
  const requestId = requestIdOf(request, reply);
  if (error.status === 401) {
    // RFC 6750: say a token is wanted, and why one given did not hold.
    const problem = error.detail.credentials;
    void reply.header(
      'www-authenticate',
      problem === undefined || problem === 'missing'
        ? 'Bearer realm=""'
        : `Bearer realm="", error="invalid_token", error_description="${UNAUTHENTICATED[problem].replace(/"/g, "'")}"`,
    );
  }
  const clientId = request.headers['client-request-id'];
  return reply.status(graph?.status ?? error.status).send({
    error: {
      code: graph?.code ?? (error.status >= 500 ? 'generalException' : 'BadRequest'),
      message: graphMessage(request, error),
      innerError: {
        date: new Date().toISOString().slice(0, 19),
        'request-id': requestId,
        'client-request-id': typeof clientId === 'string' ? clientId : requestId,
      },
    },
  });
}
