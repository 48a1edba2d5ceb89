import multipart from '@fastify/multipart';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isAppError } from '../errors.js';
import type { App } from '../http/app.js';
import { MAIL_PHOTO_MAX_BYTES } from '../mail/photo-store.js';
import type { MessageKey } from './messages/en.js';

// Picture uploads from the pages: one multipart file with the form token, read whole into memory
// (at most 4 MB) before anything is checked, so a refused file changes nothing.

export const UploadBody = Type.Object({
  _csrf: Type.String({ maxLength: 200 }),
  photo: Type.Unknown({ description: 'The picture (JPEG, PNG, GIF or WebP), at most 4 MB' }),
});

export function uploadedBytes(body: { photo: unknown }): Buffer {
  return Buffer.isBuffer(body.photo) ? body.photo : Buffer.alloc(0);
}

/** The message key for a refused upload, or undefined when the error is not about the file. */
export function uploadErrorKey(error: unknown): MessageKey | undefined {
  const { code, validation } = error as { code?: string; validation?: unknown };
  if (code === 'FST_REQ_FILE_TOO_LARGE' || code === 'FST_PARTS_LIMIT' || code === 'FST_FILES_LIMIT')
    return 'photo.error.too_large';
  if (code?.startsWith('FST_CSRF')) return 'form.expired';
  if (validation || code === 'FST_INVALID_MULTIPART_CONTENT_TYPE' || isBrokenMultipart(error))
    return 'photo.error.empty';
  if (!isAppError(error)) return undefined;
  switch (error.id) {
    case 'too_large':
      return 'photo.error.too_large';
    case 'unsupported_type':
      return 'photo.error.unsupported_type';
    case 'image_empty':
      return 'photo.error.empty';
    case 'image_corrupt':
      return 'photo.error.corrupt';
    case 'image_too_many_pixels':
      return 'photo.error.too_many_pixels';
    case 'image_side_too_long':
    case 'image_aspect_too_extreme':
      return 'photo.error.not_portrait';
    case 'image_decode_timeout':
      return 'photo.error.too_slow';
    case 'image_queue_full':
      return 'photo.error.busy';
    default:
      return undefined;
  }
}

/** busboy's errors for a form body that is not valid multipart carry no code, only these texts. */
function isBrokenMultipart(error: unknown): boolean {
  if (!(error instanceof Error) || isAppError(error) || 'code' in error) return false;
  return /^(Unexpected end of (multipart data|form)|Multipart: Boundary not found|Malformed part header)/.test(
    error.message,
  );
}

const STATUS: Partial<Record<MessageKey, number>> = {
  'photo.error.too_large': 413,
  'photo.error.unsupported_type': 415,
  'form.expired': 403,
  'photo.error.busy': 503,
};

/**
 * Registers upload routes in their own context with multipart parsing; a refused file is answered
 * by `showError`, which renders the page again with the message in the user's language.
 */
export async function uploadRoutes(
  app: App,
  routes: (uploads: App) => void,
  showError: (request: FastifyRequest, reply: FastifyReply, key: MessageKey, status: number) => Promise<unknown>,
): Promise<void> {
  await app.register(async (child) => {
    await child.register(multipart, {
      attachFieldsToBody: 'keyValues',
      limits: { fileSize: MAIL_PHOTO_MAX_BYTES, files: 1, fields: 4, parts: 6 },
    });
    child.setErrorHandler(async (error, request, reply) => {
      const key = uploadErrorKey(error);
      if (!key) throw error;
      // The rest of an oversized upload is not read; the connection closes after the answer.
      if (key === 'photo.error.too_large') reply.header('connection', 'close');
      return showError(request, reply, key, STATUS[key] ?? 400);
    });
    routes(child as unknown as App);
  });
}
