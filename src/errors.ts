import type { ImageRefusal } from './media/media.js';

// Errors the application means to show: a stable id, an HTTP status and a sentence for a person.
// Anything else that is thrown is a bug: logged in full, shown as a plain 500.

export class AppError extends Error {
  constructor(
    readonly id: string,
    readonly status: number,
    message: string,
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
      return invalidInput(refusal.message, `image_${refusal.reason}`);
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
