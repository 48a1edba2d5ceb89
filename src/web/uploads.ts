import multipart, { type MultipartFile } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { AppError, type ErrorId } from '../errors.js';
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
  upload_incomplete: 'photo.error.incomplete',
};

/** The name each upload's file part came with ('' when the browser sent the form with no file chosen). */
const fileNames = new WeakMap<FastifyRequest, string>();

/**
 * The chosen file's bytes (empty when the chosen file is: the image checks then say so). A form
 * with no file chosen, which a browser sends as an unnamed empty part, is refused as
 * invalid_request: "Choose a picture first".
 */
export function uploadedBytes(request: FastifyRequest & { body: { photo: unknown } }): Buffer {
  const { photo } = request.body;
  const named = (fileNames.get(request) ?? '') !== '';
  if (!Buffer.isBuffer(photo) || (photo.length === 0 && !named)) {
    throw new AppError('invalid_request', 'The form has no file in it; choose a picture first.');
  }
  return photo;
}

/** Registers upload routes in their own context with multipart parsing. */
export async function uploadRoutes(app: App, routes: (uploads: App) => void): Promise<void> {
  await app.register(async (child) => {
    await child.register(multipart, {
      attachFieldsToBody: 'keyValues',
      // Read whole as without onFile, keeping the file's name to tell "no file chosen" from an empty file.
      async onFile(this: FastifyRequest, part: MultipartFile) {
        await part.toBuffer();
        fileNames.set(this, part.filename);
      },
      limits: { fileSize: MAIL_PHOTO_MAX_BYTES, files: 1, fields: 4, parts: 6 },
    });
    routes(child as unknown as App);
  });
}
