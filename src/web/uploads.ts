import multipart from '@fastify/multipart';
import { Type } from '@sinclair/typebox';
import type { ErrorId } from '../errors.js';
import type { App } from '../http/types.js';
import { MAIL_PHOTO_MAX_BYTES } from '../mail/photo-store.js';
import type { MessageKey } from './messages/en.js';

// Picture uploads from the pages: one multipart file with the form token, read whole into memory
// (at most 4 MB) before anything is checked, so a refused file changes nothing. A refused upload is
// answered by its page again, with the message in the user's language (see error-page.tsx).

export const UploadBody = Type.Object({
  _csrf: Type.String({ maxLength: 200 }),
  photo: Type.Unknown({ description: 'The picture (JPEG, PNG, GIF or WebP), at most 4 MB' }),
});

/** The upload form's own words: a form that is not a valid upload had no picture in it; too large is the picture. */
export const UPLOAD_MESSAGES: Partial<Record<ErrorId, MessageKey>> = {
  invalid_request: 'photo.error.empty',
  too_large: 'photo.error.too_large',
  upload_too_many_parts: 'photo.error.one_file',
};

export function uploadedBytes(body: { photo: unknown }): Buffer {
  return Buffer.isBuffer(body.photo) ? body.photo : Buffer.alloc(0);
}

/** Registers upload routes in their own context with multipart parsing. */
export async function uploadRoutes(app: App, routes: (uploads: App) => void): Promise<void> {
  await app.register(async (child) => {
    await child.register(multipart, {
      attachFieldsToBody: 'keyValues',
      limits: { fileSize: MAIL_PHOTO_MAX_BYTES, files: 1, fields: 4, parts: 6 },
    });
    routes(child as unknown as App);
  });
}
