import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppError, ErrorId } from '../errors.js';
import { entraError, entraErrorBody, type EntraError } from './entra-errors.js';

// The one error handler's Entra envelope: an error of the catalogue (src/errors.ts) as Entra's OAuth
// error body (`entraErrorBody`), with OAuth's `error` and Entra's usual AADSTS number for its id.

/** OAuth's `error` and Entra's usual AADSTS number for the catalogue's ids. */
const ENTRA_CODES: Partial<Record<ErrorId, { error: string; aadsts: number }>> = {
  invalid_request: { error: 'invalid_request', aadsts: 900144 },
  invalid_scope: { error: 'invalid_scope', aadsts: 70011 },
  unsupported_grant_type: { error: 'unsupported_grant_type', aadsts: 70003 },
  unauthorized_client: { error: 'unauthorized_client', aadsts: 700016 },
  invalid_grant: { error: 'invalid_grant', aadsts: 50126 },
  invalid_resource: { error: 'invalid_resource', aadsts: 500011 },
  tenant_not_found: { error: 'invalid_request', aadsts: 90002 },
  invalid_client: { error: 'invalid_client', aadsts: 7000215 },
  internal_error: { error: 'server_error', aadsts: 50000 },
};

const CLIENT_ERROR = { error: 'invalid_request', aadsts: 900144 };
const SERVER_ERROR = { error: 'server_error', aadsts: 50000 };

/** The statuses Entra answers its errors with. */
function entraStatus(status: number): EntraError['status'] {
  if (status >= 500) return 500;
  if (status === 401 || status === 403 || status === 429) return status;
  return 400;
}

/** The client-request-id MSAL sends, which Entra answers as correlation_id. */
function clientRequestId(request: FastifyRequest): string | undefined {
  const header = request.headers['client-request-id'];
  const query = (request.query as Record<string, unknown> | undefined)?.['client-request-id'];
  const body = (request.body as Record<string, unknown> | undefined)?.['client-request-id'];
  const value = typeof header === 'string' ? header : typeof query === 'string' ? query : body;
  return typeof value === 'string' ? value : undefined;
}

export function renderEntraError(request: FastifyRequest, reply: FastifyReply, error: AppError) {
  const oauth = ENTRA_CODES[error.id] ?? (error.status >= 500 ? SERVER_ERROR : CLIENT_ERROR);
  const aadsts = error.detail.aadsts ?? oauth.aadsts;
  const code = error.detail.oauthError ?? oauth.error;
  const body = entraErrorBody(
    entraError(entraStatus(error.status), code, aadsts, error.message, error.detail.suberror),
    clientRequestId(request),
  );
  // Entra's endpoints take no cookies, so single-page apps on any origin may read their errors too.
  // A body too large for the token endpoint is one more bad request to Entra.
  return reply
    .status(error.status === 413 ? 400 : error.status)
    .header('cache-control', 'no-store')
    .header('access-control-allow-origin', '*')
    .send(body);
}
