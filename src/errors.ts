import type { ImageRefusal } from './media/media.js';
import type { MessageKey } from './web/messages/en.js';

// Every error photosync means to show, in one place: a stable id, its HTTP status, how loudly it
// is logged, and how each envelope names it (Graph's and SharePoint's codes, Entra's OAuth error,
// the sentence on a page). Route code throws these (an AppError with a sentence for a person);
// the one error handler renders them in the envelope the route declares. Anything else that is
// thrown is a bug: logged in full, answered as internal_error.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Why credentials did not hold: no credentials at all, or credentials that are not right. */
export type CredentialProblem = 'missing' | 'malformed' | 'invalid' | 'expired' | 'audience';

export interface ErrorKind {
  status: number;
  log: LogLevel;
  /** Microsoft Graph's error code, and its status where Graph answers with another. */
  graph?: { code: string; status?: number };
  /** SharePoint's `"HRESULT, exception"` code, and its status where SharePoint answers with another. */
  sharepoint?: { code: string; status?: number };
  /** Entra's OAuth `error` and its usual AADSTS number. */
  entra?: { error: string; aadsts: number };
  /** What a page says (and its heading, when not "Something went wrong"). */
  page?: MessageKey;
  pageTitle?: MessageKey;
}

const SP_INVALID_QUERY = '-1, Microsoft.SharePoint.Client.InvalidClientQueryException';
const SP_ACCESS_DENIED = '-2147024891, System.UnauthorizedAccessException';
const SP_EXCEPTION = '-2146232832, Microsoft.SharePoint.SPException';
const INVALID_IMAGE = { code: 'ErrorInvalidImage' };

export const ERRORS = {
  // 400: the request is wrong, and saying it again will not help.
  /** The request does not fit its route: schema, unreadable body, an argument SharePoint cannot parse. */
  invalid_request: {
    status: 400,
    log: 'debug',
    graph: { code: 'BadRequest' },
    sharepoint: { code: SP_INVALID_QUERY },
    entra: { error: 'invalid_request', aadsts: 900144 },
  },
  invalid_input: { status: 400, log: 'debug', page: 'admin.error.invalid' },
  invalid_scope: { status: 400, log: 'debug', entra: { error: 'invalid_scope', aadsts: 70011 } },
  invalid_setting: { status: 400, log: 'debug', page: 'admin.settings.invalid' },
  invalid_cursor: { status: 400, log: 'debug' },
  nothing_selected: { status: 400, log: 'debug', page: 'admin.error.nothingSelected' },
  image_empty: { status: 400, log: 'debug', graph: INVALID_IMAGE, page: 'photo.error.empty' },
  image_corrupt: { status: 400, log: 'debug', graph: INVALID_IMAGE, page: 'photo.error.corrupt' },
  image_too_many_pixels: { status: 400, log: 'debug', graph: INVALID_IMAGE, page: 'photo.error.too_many_pixels' },
  // Entra's token endpoint.
  unsupported_grant_type: { status: 400, log: 'debug', entra: { error: 'unsupported_grant_type', aadsts: 70003 } },
  unauthorized_client: { status: 400, log: 'debug', entra: { error: 'unauthorized_client', aadsts: 700016 } },
  invalid_grant: { status: 400, log: 'debug', entra: { error: 'invalid_grant', aadsts: 50126 } },
  invalid_resource: { status: 400, log: 'debug', entra: { error: 'invalid_resource', aadsts: 500011 } },
  tenant_not_found: { status: 400, log: 'debug', entra: { error: 'invalid_request', aadsts: 90002 } },

  // 401 and 403: who is asking, and what they may do.
  /** No credentials, or credentials that do not hold; pages send the person to sign in. */
  unauthorized: {
    status: 401,
    log: 'debug',
    graph: { code: 'InvalidAuthenticationToken' },
    sharepoint: { code: SP_ACCESS_DENIED },
  },
  invalid_client: { status: 401, log: 'debug', entra: { error: 'invalid_client', aadsts: 7000215 } },
  forbidden: {
    status: 403,
    log: 'info',
    graph: { code: 'ErrorAccessDenied' },
    sharepoint: { code: SP_ACCESS_DENIED },
    page: 'admin.forbidden.body',
    pageTitle: 'admin.forbidden.title',
  },
  /** Reading a user's profile (not their photo) without the scope. */
  profile_forbidden: {
    status: 403,
    log: 'info',
    graph: { code: 'Authorization_RequestDenied' },
    sharepoint: { code: SP_ACCESS_DENIED },
  },
  /** A form without its CSRF token, or with another browser's. */
  form_expired: { status: 403, log: 'debug', page: 'form.expired' },
  operator_sync_off: { status: 403, log: 'debug', page: 'admin.error.operatorSyncOff' },

  // 404: nothing there.
  /** No route has this address (Graph and SharePoint answer an address they do not know with 400). */
  not_found: {
    status: 404,
    log: 'debug',
    graph: { code: 'BadRequest', status: 400 },
    sharepoint: { code: SP_INVALID_QUERY, status: 400 },
    page: 'error.badAddress',
  },
  user_not_found: {
    status: 404,
    log: 'debug',
    graph: { code: 'Request_ResourceNotFound' },
    sharepoint: { code: SP_EXCEPTION },
    page: 'admin.error.unknownUser',
  },
  photo_not_found: { status: 404, log: 'debug', graph: { code: 'ImageNotFound' } },
  mailbox_not_found: { status: 404, log: 'debug', graph: { code: 'MailboxNotEnabledForRESTAPI' } },
  app_not_found: { status: 404, log: 'debug' },

  // 409, 413, 415, 429.
  conflict: { status: 409, log: 'debug' },
  user_exists: { status: 409, log: 'debug' },
  too_large: {
    status: 413,
    log: 'debug',
    graph: { code: 'RequestEntityTooLarge' },
    sharepoint: { code: '-2130575275, Microsoft.SharePoint.SPException' },
    page: 'photo.error.too_large',
  },
  unsupported_type: {
    status: 415,
    log: 'debug',
    graph: { ...INVALID_IMAGE, status: 400 },
    sharepoint: { code: '-1, unsupported_type', status: 400 },
    page: 'photo.error.unsupported_type',
  },
  rate_limited: { status: 429, log: 'info', page: 'error.rateLimited' },

  // 500: a bug or a broken dependency; the details go to the log, never to the client.
  internal_error: {
    status: 500,
    log: 'error',
    graph: { code: 'generalException' },
    sharepoint: { code: '-1, System.Exception' },
    entra: { error: 'server_error', aadsts: 50000 },
    page: 'error.body',
  },
} as const satisfies Record<string, ErrorKind>;

export type ErrorId = keyof typeof ERRORS;

/** The ids whose status is `S`: what a factory for that status may be given. */
export type ErrorIdOfStatus<S extends number> = {
  [K in ErrorId]: (typeof ERRORS)[K]['status'] extends S ? K : never;
}[ErrorId];

/** The catalogue's entry for an id, with every optional field visible to the renderers. */
export function errorKind(id: ErrorId): ErrorKind {
  return ERRORS[id];
}

export interface ErrorDetail {
  /** For unauthorized: why the credentials did not hold (each API says it in its own words). */
  credentials?: CredentialProblem;
  /** For Entra's errors: the AADSTS number, when it is not the id's usual one. */
  aadsts?: number;
}

export class AppError extends Error {
  readonly status: number;

  constructor(
    readonly id: ErrorId,
    message: string,
    readonly detail: ErrorDetail = {},
  ) {
    super(message);
    this.name = 'AppError';
    this.status = ERRORS[id].status;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

export const invalidInput = (message: string, id: ErrorIdOfStatus<400> = 'invalid_input') => new AppError(id, message);
export const unauthorized = (
  message = 'Sign in or send a bearer token to see this.',
  credentials: CredentialProblem = 'missing',
) => new AppError('unauthorized', message, { credentials });
export const forbidden = (message: string, id: ErrorIdOfStatus<403> = 'forbidden') => new AppError(id, message);
export const notFound = (message: string, id: ErrorIdOfStatus<404> = 'not_found') => new AppError(id, message);
export const conflict = (message: string, id: ErrorIdOfStatus<409> = 'conflict') => new AppError(id, message);
export const payloadTooLarge = (message: string) => new AppError('too_large', message);
export const unsupportedMediaType = (message: string) => new AppError('unsupported_type', message);

/** Turns the media module's refusal into the error a person sees. */
export function imageRefused(refusal: ImageRefusal): AppError {
  switch (refusal.reason) {
    case 'too_large':
      return payloadTooLarge(refusal.message);
    case 'unsupported_type':
      return unsupportedMediaType(refusal.message);
    case 'empty':
    case 'corrupt':
    case 'too_many_pixels':
      return new AppError(`image_${refusal.reason}`, refusal.message);
  }
}
