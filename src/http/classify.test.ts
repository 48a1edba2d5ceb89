import { describe, expect, it } from 'vitest';
import { AppError, ERRORS, notFound } from '../errors.js';
import { fromDatabaseDriver } from '../storage/faults.js';
import { classifyError } from './classify.js';

const withCode = (code: string, message = 'x', statusCode?: number) =>
  Object.assign(new Error(message), { code, ...(statusCode ? { statusCode } : {}) });

describe('classifyError', () => {
  const cases: Array<[string, unknown, string, 'drain' | 'close' | undefined]> = [
    ['an error of the catalogue, as thrown', notFound('No such thing.', 'user_not_found'), 'user_not_found', undefined],
    ['a body over the route limit', withCode('FST_ERR_CTP_BODY_TOO_LARGE', 'too big', 413), 'too_large', 'drain'],
    ['a multipart file over its limit', withCode('FST_REQ_FILE_TOO_LARGE', 'big', 413), 'too_large', 'close'],
    ['too many multipart parts', withCode('FST_PARTS_LIMIT', 'parts', 413), 'upload_too_many_parts', 'close'],
    ['a second multipart file', withCode('FST_FILES_LIMIT', 'files', 413), 'upload_too_many_parts', 'close'],
    ['a missing form token', withCode('FST_CSRF_MISSING_SECRET', 'csrf', 403), 'form_expired', undefined],
    ['an invalid form token', withCode('FST_CSRF_INVALID_TOKEN', 'csrf', 403), 'form_expired', undefined],
    [
      'a schema mismatch',
      Object.assign(new Error('querystring/size must match'), { validation: [], statusCode: 400 }),
      'invalid_request',
      undefined,
    ],
    [
      'a form that is not multipart',
      withCode('FST_INVALID_MULTIPART_CONTENT_TYPE', 'ct', 406),
      'invalid_request',
      undefined,
    ],
    ['broken multipart (busboy)', new Error('Malformed part header'), 'invalid_request', undefined],
    ['multipart that ends too soon (busboy)', new Error('Unexpected end of form'), 'upload_incomplete', undefined],
    [
      'a file part cut off (busboy)',
      new Error('Part terminated early due to unexpected end of multipart data'),
      'upload_incomplete',
      undefined,
    ],
    [
      'an unsupported content type',
      withCode('FST_ERR_CTP_INVALID_MEDIA_TYPE', 'Unsupported', 415),
      'unsupported_type',
      undefined,
    ],
    ['malformed JSON', withCode('FST_ERR_CTP_INVALID_JSON_BODY', 'bad json', 400), 'invalid_request', undefined],
    ['the rate limit', Object.assign(new Error('Rate limit exceeded'), { statusCode: 429 }), 'rate_limited', undefined],
    ['a bug', new TypeError('x is undefined'), 'internal_error', undefined],
    ['a 5xx from a plugin', Object.assign(new Error('gone'), { statusCode: 503 }), 'internal_error', undefined],
    ['something thrown that is not an Error', 'a string', 'internal_error', undefined],
    ["SQLite's disk full", withCode('SQLITE_FULL', 'database or disk is full'), 'storage_full', undefined],
    ['a full disk under a file write', withCode('ENOSPC', 'no space left on device'), 'storage_full', undefined],
    ["PostgreSQL's disk_full", withCode('53100', 'could not extend file'), 'storage_full', undefined],
    ['a read-only file system', withCode('EROFS', 'read-only file system'), 'storage_read_only', undefined],
    ['a read-only SQLite file', withCode('SQLITE_READONLY_DBMOVED', 'readonly'), 'storage_read_only', undefined],
    ['a damaged SQLite file', withCode('SQLITE_CORRUPT', 'malformed'), 'storage_damaged', undefined],
    [
      "SQLite's -shm file not grown on a full disk",
      withCode('SQLITE_IOERR_SHMSIZE', 'disk I/O error'),
      'storage_full',
      undefined,
    ],
    ['any other SQLite I/O error', withCode('SQLITE_IOERR_READ', 'disk I/O error'), 'internal_error', undefined],
    [
      'a full disk under a migration',
      new Error('Database migration failed', { cause: withCode('SQLITE_FULL', 'full') }),
      'storage_full',
      undefined,
    ],
    ['nothing at all', undefined, 'internal_error', undefined],
    [
      "SQLite's write lock held past busy_timeout",
      withCode('SQLITE_BUSY', 'database is locked'),
      'database_busy',
      undefined,
    ],
    ['PostgreSQL shutting down', withCode('57P01', 'terminating connection'), 'database_unavailable', undefined],
    [
      'PostgreSQL refusing, from its driver',
      fromDatabaseDriver(withCode('ECONNREFUSED', 'connect ECONNREFUSED')),
      'database_unavailable',
      undefined,
    ],
    [
      "the driver's connection cut",
      fromDatabaseDriver(new Error('Connection terminated unexpectedly')),
      'database_unavailable',
      undefined,
    ],
    // Refused elsewhere (a mail server, Microsoft 365): not the database's, and not said to be.
    [
      'a connection refused by anything else',
      withCode('ECONNREFUSED', 'connect ECONNREFUSED'),
      'internal_error',
      undefined,
    ],
  ];

  it.each(cases)('%s → %s', (_what, thrown, id, unreadBody) => {
    const classified = classifyError(thrown, 5_000_000);
    expect(classified.error.id).toBe(id);
    expect(classified.error.status).toBe(ERRORS[classified.error.id].status);
    expect(classified.unreadBody).toBe(unreadBody);
    expect(classified.error.message).toMatch(/[A-Za-z]{3}/);
  });

  it('keeps what it did not recognise for the log, and never puts its text in the message', () => {
    const bug = new Error('SQLITE_MISUSE: not an error');
    const classified = classifyError(bug);
    expect(classified.cause).toBe(bug);
    expect(classified.error.message).not.toContain('SQLITE');
  });

  it('answers a storage fault with 503 and Retry-After, keeping the cause for the log', () => {
    const full = withCode('ENOSPC', 'ENOSPC: no space left on device, write');
    const classified = classifyError(full);
    expect(classified.error.status).toBe(503);
    expect(classified.error.detail.retryAfterSeconds).toBeGreaterThan(0);
    expect(classified.error.message).toContain('disk is full');
    expect(classified.error.message).not.toContain('ENOSPC');
    expect(classified.cause).toBe(full);
  });

  it("names the route's body limit in the sentence", () => {
    const classified = classifyError(withCode('FST_ERR_CTP_BODY_TOO_LARGE', 'too big', 413), 5_000_000);
    expect(classified.error.message).toContain('5,000,000 bytes');
  });

  it('hands on errors of the catalogue unchanged', () => {
    const error = new AppError('operator_sync_off', 'Off.');
    expect(classifyError(error)).toEqual({ error });
  });
});

describe('the catalogue', () => {
  it('gives every id a client or server status and a log level', () => {
    for (const [id, kind] of Object.entries(ERRORS)) {
      expect(kind.status >= 400 && kind.status < 600, id).toBe(true);
      expect(['debug', 'info', 'warn', 'error'], id).toContain(kind.log);
    }
  });
});
