import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type ErrorId } from '../errors.js';

// Entra ID's OAuth error envelope, as its token and authorize endpoints answer:
// {"error":"invalid_client","error_description":"AADSTS7000215: … Trace ID: … Correlation ID: … Timestamp: …",
//  "error_codes":[7000215],"timestamp":"…","trace_id":"…","correlation_id":"…"}
// The OAuth `error` and the usual AADSTS number for each error id of the catalogue are here.

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

/** An error of the token endpoint: a catalogue id, Entra's sentence and, where it is not the id's usual one, its AADSTS number. */
export function entraError(id: ErrorId, description: string, aadsts?: number): AppError {
  return new AppError(id, description, aadsts === undefined ? {} : { aadsts });
}

/** The Entra envelope of an error; sent with no-store, as Entra sends its own. */
export function renderEntraError(_request: FastifyRequest, reply: FastifyReply, error: AppError) {
  const oauth =
    ENTRA_CODES[error.id] ??
    (error.status >= 500 ? { error: 'server_error', aadsts: 50000 } : { error: 'invalid_request', aadsts: 900144 });
  const aadsts = error.detail.aadsts ?? oauth.aadsts;
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  return reply
    .status(error.status)
    .header('cache-control', 'no-store')
    .send({
      error: oauth.error,
      error_description: `AADSTS${aadsts}: ${error.message} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [aadsts],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
    });
}
