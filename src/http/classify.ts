import { AppError, STORAGE_FAULT_MESSAGES, isAppError, type ErrorIdOfStatus } from '../errors.js';
import { describeValidation, type SchemaError } from './validation-message.js';
import { storageFaultOf, type StorageFault } from '../storage/faults.js';

// The one classifier: whatever a route, a hook, a parser or a plugin threw becomes an AppError of
// the catalogue (src/errors.ts). Anything it does not recognise is a bug and becomes
// internal_error, keeping the original to be logged.

export interface Classified {
  error: AppError;
  /**
   * The body was refused before it was read: read the rest first, so a client still sending gets
   * the answer rather than a reset ('drain'), or close the connection after answering ('close').
   */
  unreadBody?: 'drain' | 'close';
  /** The original error, when it was not photosync's own: logged in full, never shown. */
  cause?: unknown;
}

/** What Fastify, its parsers and plugins throw: a code, a status, schema validation details. */
interface ThrownByFramework {
  code?: unknown;
  statusCode?: unknown;
  validation?: unknown;
  validationContext?: unknown;
  message?: unknown;
}

/** More files, fields or parts than an upload form has: not a picture too large, a form not as offered. */
const MULTIPART_COUNTS = new Set(['FST_PARTS_LIMIT', 'FST_FILES_LIMIT', 'FST_FIELDS_LIMIT']);

/** busboy's errors for a body that is not valid multipart carry no code, only these texts. */
const BROKEN_MULTIPART = /^(Multipart: Boundary not found|Malformed part header)/;
/** …and for one that ended before its last boundary (a file part cut off: "Part terminated early"). */
const CUT_OFF_MULTIPART =
  /^(Unexpected end of (multipart data|form)|(Part|Preamble) terminated early due to unexpected end of multipart data)/;

/** Status codes of the framework's own refusals, as the catalogue's ids. */
const BY_STATUS: Partial<Record<number, ErrorIdOfStatus<404 | 413 | 415 | 429>>> = {
  404: 'not_found',
  413: 'too_large',
  415: 'unsupported_type',
  429: 'rate_limited',
};

const STORAGE_FAULT_IDS = {
  full: 'storage_full',
  read_only: 'storage_read_only',
  damaged: 'storage_damaged',
  busy: 'database_busy',
  unreachable: 'database_unavailable',
} as const satisfies Record<StorageFault, keyof typeof STORAGE_FAULT_MESSAGES>;

export function classifyError(thrown: unknown, bodyLimit?: number): Classified {
  if (isAppError(thrown)) return { error: thrown };
  const { code, statusCode, validation, validationContext, message } = (thrown ?? {}) as ThrownByFramework;
  const text = typeof message === 'string' ? message : '';
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    const limit = bodyLimit === undefined ? 'the limit' : `${bodyLimit.toLocaleString('en-US')} bytes`;
    return {
      error: new AppError('too_large', `The request body is larger than ${limit}; send a smaller one.`),
      unreadBody: 'drain',
    };
  }
  if (code === 'FST_REQ_FILE_TOO_LARGE') {
    return { error: new AppError('too_large', 'The upload is larger than this form takes.'), unreadBody: 'close' };
  }
  if (typeof code === 'string' && MULTIPART_COUNTS.has(code)) {
    return {
      error: new AppError('upload_too_many_parts', 'The upload holds more files or fields than this form takes.'),
      unreadBody: 'close',
    };
  }
  if (typeof code === 'string' && code.startsWith('FST_CSRF')) {
    return { error: new AppError('form_expired', 'This form has expired. Load the page again and send it again.') };
  }
  if (validation !== undefined) {
    const context = typeof validationContext === 'string' ? validationContext : '';
    const described = Array.isArray(validation) ? describeValidation(validation as SchemaError[], context) : undefined;
    return { error: new AppError('invalid_request', `The request is not valid: ${described ?? text}.`) };
  }
  if (thrown instanceof Error && code === undefined && CUT_OFF_MULTIPART.test(text)) {
    return {
      error: new AppError(
        'upload_incomplete',
        'The upload did not arrive whole: it ended before its last part. Send it again.',
      ),
    };
  }
  if (
    code === 'FST_INVALID_MULTIPART_CONTENT_TYPE' ||
    (thrown instanceof Error && code === undefined && BROKEN_MULTIPART.test(text))
  ) {
    return { error: new AppError('invalid_request', 'The form is not a valid upload.') };
  }
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    const id = BY_STATUS[statusCode] ?? 'invalid_request';
    const sentence = text === '' ? 'The request is not valid.' : text;
    return { error: new AppError(id, id === 'invalid_request' ? `The request is not valid: ${sentence}` : sentence) };
  }
  const fault = storageFaultOf(thrown);
  if (fault) {
    // Not a bug: the disk or the database file. 503 with the cause in words; the log keeps the code.
    const id = STORAGE_FAULT_IDS[fault];
    const retryAfterSeconds = fault === 'busy' ? 5 : fault === 'unreachable' ? 10 : 60;
    return { error: new AppError(id, STORAGE_FAULT_MESSAGES[id], { retryAfterSeconds }), cause: thrown };
  }
  return {
    error: new AppError('internal_error', 'Something went wrong on our side. Please try again.'),
    cause: thrown,
  };
}
