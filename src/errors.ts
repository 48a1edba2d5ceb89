// Errors the application means to show: a stable id, an HTTP status and a sentence for a person.
// Anything else that is thrown is a bug: logged in full, shown as a plain 500.

export class AppError extends Error {
  constructor(
    readonly id: string,
    readonly status: number,
    message: string,
    /** For a 503: seconds after which trying again is likely to work (the Retry-After header). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const invalidInput = (message: string, id = 'invalid_input') => new AppError(id, 400, message);
export const unauthorized = (message = 'Sign in or send a bearer token to see this.') =>
  new AppError('unauthorized', 401, message);
export const notFound = (message: string, id = 'not_found') => new AppError(id, 404, message);
export const conflict = (message: string, id = 'conflict') => new AppError(id, 409, message);
export const payloadTooLarge = (message: string) => new AppError('too_large', 413, message);
export const unsupportedMediaType = (message: string) => new AppError('unsupported_type', 415, message);
export const serviceUnavailable = (message: string, retryAfterSeconds: number, id = 'unavailable') =>
  new AppError(id, 503, message, retryAfterSeconds);

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
