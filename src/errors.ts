import type { ImageRefusal } from './media/media.js';

// Every error photosync means to show, in one place: a stable id, its HTTP status and how loudly
// it is logged. Route code throws these (an AppError with a sentence for a person); the one error
// handler renders them in the envelope the route declares, and each envelope's renderer says how
// it names them (Graph's and SharePoint's codes, Entra's OAuth error, the sentence on a page).
// Anything else that is thrown is a bug: logged in full, answered as internal_error.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Why credentials did not hold: no credentials at all, or credentials that are not right. */
export type CredentialProblem = 'missing' | 'malformed' | 'invalid' | 'expired' | 'audience';

export interface ErrorKind {
  status: number;
  log: LogLevel;
  /** False for a 5xx that is no fault of photosync's code: its log line says why, without a stack trace. */
  trace?: boolean;
}

export const ERRORS = {
  // 400: the request is wrong, and saying it again will not help.
  /** The request does not fit its route: schema, unreadable body, an argument that cannot be parsed. */
  invalid_request: { status: 400, log: 'debug' },
  invalid_input: { status: 400, log: 'debug' },
  /** A query option (Graph's $orderby and the like) the API does not take in this combination. */
  unsupported_query: { status: 400, log: 'debug' },
  invalid_scope: { status: 400, log: 'debug' },
  invalid_setting: { status: 400, log: 'debug' },
  invalid_scan_interval: { status: 400, log: 'debug' },
  invalid_cursor: { status: 400, log: 'debug' },
  nothing_selected: { status: 400, log: 'debug' },
  /** An upload that ended before its last part (a connection dropped while it was sent). */
  upload_incomplete: { status: 400, log: 'debug' },
  image_empty: { status: 400, log: 'debug' },
  image_corrupt: { status: 400, log: 'debug' },
  image_too_many_pixels: { status: 400, log: 'debug' },
  /** A side over the limit, or sides too far from a square, for a portrait. */
  image_side_too_long: { status: 400, log: 'debug' },
  image_aspect_too_extreme: { status: 400, log: 'debug' },
  /** A JPEG of more scans than a photo has (each is read before the first row: a decoder held for long). */
  image_too_many_scans: { status: 400, log: 'info' },
  /** The decode took too long (counted from its start, not the wait in line): sending it again would too. */
  image_decode_timeout: { status: 400, log: 'info' },
  // Entra's token endpoint.
  unsupported_grant_type: { status: 400, log: 'debug' },
  unauthorized_client: { status: 400, log: 'debug' },
  invalid_grant: { status: 400, log: 'debug' },
  invalid_resource: { status: 400, log: 'debug' },
  tenant_not_found: { status: 400, log: 'debug' },

  // 401 and 403: who is asking, and what they may do.
  /** No credentials, or credentials that do not hold; pages send the person to sign in. */
  unauthorized: { status: 401, log: 'debug' },
  invalid_client: { status: 401, log: 'debug' },
  forbidden: { status: 403, log: 'info' },
  /** Reading a user's profile (not their photo) without the scope. */
  profile_forbidden: { status: 403, log: 'info' },
  /** A form without its CSRF token, or with another browser's. */
  form_expired: { status: 403, log: 'debug' },
  /** SharePoint's form digest (X-RequestDigest) of a browser session: missing, another's, or too old. */
  digest_invalid: { status: 403, log: 'debug' },
  operator_sync_off: { status: 403, log: 'debug' },

  // 404: nothing there.
  /** No route has this address. */
  not_found: { status: 404, log: 'debug' },
  user_not_found: { status: 404, log: 'debug' },
  /** A connect-mode page on a photosync that is its own organisation. */
  connect_mode_off: { status: 404, log: 'debug' },
  photo_not_found: { status: 404, log: 'debug' },
  mailbox_not_found: { status: 404, log: 'debug' },
  app_not_found: { status: 404, log: 'debug' },
  /** A file or folder of the sites' "User Photos" library that is not there. */
  file_not_found: { status: 404, log: 'debug' },
  /** The address has routes, for other methods (the Allow header lists them). */
  method_not_allowed: { status: 405, log: 'debug' },

  // 408, 409, 413, 415, 429, 431.
  /** The request (headers, or the whole of it with its body) did not arrive within its deadline. */
  request_timeout: { status: 408, log: 'info' },
  conflict: { status: 409, log: 'debug' },
  user_exists: { status: 409, log: 'debug' },
  /** Another process is scanning the Microsoft 365 tenant already. */
  m365_scan_busy: { status: 409, log: 'info' },
  too_large: { status: 413, log: 'debug' },
  /** An upload form with more files or fields than it has (only a crafted request sends them). */
  upload_too_many_parts: { status: 413, log: 'debug' },
  unsupported_type: { status: 415, log: 'debug' },
  rate_limited: { status: 429, log: 'info' },
  headers_too_large: { status: 431, log: 'debug' },

  // 500: a bug or a broken dependency; the details go to the log, never to the client.
  internal_error: { status: 500, log: 'error' },

  // 502: the Microsoft 365 tenant of connect mode refused or failed (src/m365/errors.ts).
  m365_consent: { status: 502, log: 'warn' },
  m365_permission: { status: 502, log: 'warn' },
  m365_certificate: { status: 502, log: 'warn' },
  m365_clock: { status: 502, log: 'warn' },
  m365_wrong_url: { status: 502, log: 'warn' },
  m365_tenant: { status: 502, log: 'warn' },
  m365_app: { status: 502, log: 'warn' },
  m365_throttled: { status: 502, log: 'warn' },
  m365_unreachable: { status: 502, log: 'warn' },
  m365_unexpected: { status: 502, log: 'warn' },

  // 503: busy; the answer says when to try again (Retry-After).
  unavailable: { status: 503, log: 'info' },
  /** Too many images are waiting to be decoded already. */
  image_queue_full: { status: 503, log: 'info' },
  /** A write failed because the disk is full (SQLITE_FULL, ENOSPC, PostgreSQL's disk_full); reads go on. */
  storage_full: { status: 503, log: 'error' },
  /** A write failed because the storage is read-only (EROFS, SQLITE_READONLY); reads go on. */
  storage_read_only: { status: 503, log: 'error' },
  /** The database file is damaged (SQLITE_CORRUPT): the operator must restore it. */
  storage_damaged: { status: 503, log: 'error' },
  /** Another process held SQLite's write lock past busy_timeout: a write waits for it, then this. */
  database_busy: { status: 503, log: 'warn', trace: false },
  /** PostgreSQL refused, did not answer in time, or the connection broke. */
  database_unavailable: { status: 503, log: 'warn', trace: false },
} as const satisfies Record<string, ErrorKind>;

export type ErrorId = keyof typeof ERRORS;

/** The ids whose status is `S`: what a factory for that status may be given. */
export type ErrorIdOfStatus<S extends number> = {
  [K in ErrorId]: (typeof ERRORS)[K]['status'] extends S ? K : never;
}[ErrorId];

export interface ErrorDetail {
  /** For unauthorized: why the credentials did not hold (each API says it in its own words). */
  credentials?: CredentialProblem;
  /** For Entra's errors: the AADSTS number, when it is not the id's usual one. */
  aadsts?: number;
  /** For Entra's errors: OAuth's `error` code, when it is not the id's usual one. */
  oauthError?: string;
  /** For Entra's errors: `bad_token` tells MSAL to drop its refresh token. */
  suberror?: 'bad_token' | 'consent_required';
  /** For a 503: seconds after which trying again is likely to work (the Retry-After header). */
  retryAfterSeconds?: number;
  /** For user_not_found: the account name asked for, which a page repeats to the person. */
  subject?: string;
  /** For unsupported_type: the file was an SVG drawing (a page says so in the person's language). */
  svg?: true;
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
/** An account name that names nobody (a typo, or someone removed since a page listed them). */
export const userNotFound = (upn: string) =>
  new AppError('user_not_found', `There is no user ${upn}.`, { subject: upn });
export const conflict = (message: string, id: ErrorIdOfStatus<409> = 'conflict') => new AppError(id, message);
export const payloadTooLarge = (message: string) => new AppError('too_large', message);
export const unsupportedMediaType = (message: string) => new AppError('unsupported_type', message);
export const serviceUnavailable = (
  message: string,
  retryAfterSeconds: number,
  id: ErrorIdOfStatus<503> = 'unavailable',
) => new AppError(id, message, { retryAfterSeconds });

/** What a person is told while the storage cannot keep writes (the log names the code). */
export const STORAGE_FAULT_MESSAGES = {
  storage_full:
    'The server cannot save changes right now: its disk is full. Pictures are still shown; try again later.',
  storage_read_only:
    'The server cannot save changes right now: its storage is read-only. Pictures are still shown; try again later.',
  storage_damaged: 'The server cannot read its database right now: the database file is damaged.',
  database_busy: 'The server is busy with another change to its database right now. Try again in a few seconds.',
  database_unavailable: 'The server cannot reach its database right now. Try again in a minute.',
} as const satisfies Partial<Record<ErrorId, string>>;

/** Turns the media module's refusal into the error a person sees. */
export function imageRefused(refusal: ImageRefusal): AppError {
  switch (refusal.reason) {
    case 'too_large':
      return payloadTooLarge(refusal.message);
    case 'unsupported_type':
      return refusal.svg
        ? new AppError('unsupported_type', refusal.message, { svg: true })
        : unsupportedMediaType(refusal.message);
    case 'busy':
      return serviceUnavailable(refusal.message, refusal.retryAfterSeconds ?? 1, 'image_queue_full');
    case 'too_slow':
      // Counted from the decode's start, never the wait in line, with few decodes at once: the
      // image is what took so long, and sending it again would take as long, so it is a 4xx.
      return new AppError('image_decode_timeout', refusal.message);
    case 'empty':
    case 'corrupt':
    case 'too_many_pixels':
    case 'side_too_long':
    case 'aspect_too_extreme':
    case 'too_many_scans':
      return new AppError(`image_${refusal.reason}`, refusal.message);
  }
}
