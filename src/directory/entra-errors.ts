import { randomUUID } from 'node:crypto';
import { AppError, type ErrorId } from '../errors.js';

// Entra's OAuth error envelope, in one place: the token endpoint answers it as JSON, the authorize
// endpoint puts `error` and `error_description` on the redirect. An error carries its OAuth code,
// its AADSTS number and the sentence Entra would give.

/** The catalogue's id for each status Entra answers errors with (the OAuth code travels as detail). */
const ID_OF_STATUS = {
  400: 'invalid_request',
  401: 'invalid_client',
  403: 'forbidden',
  429: 'rate_limited',
  500: 'internal_error',
} as const satisfies Record<number, ErrorId>;

/**
 * An error as Entra says it. It is an AppError of the catalogue, so the one error handler logs and
 * answers it; Entra's renderer (`renderEntraError`) keeps its OAuth code, AADSTS number and suberror.
 */
export type EntraSuberror = 'bad_token' | 'consent_required';

export class EntraError extends AppError {
  declare readonly status: 400 | 401 | 403 | 429 | 500;

  constructor(
    status: 400 | 401 | 403 | 429 | 500,
    readonly error: string,
    readonly aadsts: number,
    description: string,
    /**
     * Entra's `suberror`: `bad_token` tells MSAL to drop its refresh token and ask the user to sign
     * in; `consent_required` makes MSAL throw InteractionRequiredAuthError, so an app asks the user.
     */
    readonly suberror?: EntraSuberror,
  ) {
    super(ID_OF_STATUS[status], description, { aadsts, oauthError: error, ...(suberror ? { suberror } : {}) });
    this.name = 'EntraError';
  }
}

export const entraError = (
  status: EntraError['status'],
  error: string,
  aadsts: number,
  description: string,
  suberror?: EntraSuberror,
) => new EntraError(status, error, aadsts, description, suberror);

/**
 * A tenant segment that names no tenant of this server, as Entra words it (AADSTS90002). Its
 * metadata endpoints call it `invalid_tenant`; its token endpoint, `invalid_request`.
 */
export const tenantNotFound = (tenant: string, error: 'invalid_tenant' | 'invalid_request') =>
  entraError(
    400,
    error,
    90002,
    `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
  );

export interface EntraErrorBody {
  error: string;
  error_description: string;
  error_codes: number[];
  timestamp: string;
  trace_id: string;
  correlation_id: string;
  suberror?: string;
}

/** Entra's timestamps: `2026-12-01 09:14:03Z`. */
export function entraTimestamp(date: Date): string {
  return date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The body Entra answers an OAuth error with. `correlationId` is the client's `client-request-id`
 * when it sent a GUID (MSAL does), as Entra echoes it; otherwise a new one.
 */
export function entraErrorBody(error: EntraError, correlationId?: string, now = new Date()): EntraErrorBody {
  const traceId = randomUUID();
  const correlation = correlationId && GUID.test(correlationId) ? correlationId.toLowerCase() : randomUUID();
  const timestamp = entraTimestamp(now);
  return {
    error: error.error,
    error_description: `AADSTS${error.aadsts}: ${error.message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlation}\r\nTimestamp: ${timestamp}`,
    error_codes: [error.aadsts],
    timestamp,
    trace_id: traceId,
    correlation_id: correlation,
    ...(error.suberror ? { suberror: error.suberror } : {}),
  };
}
