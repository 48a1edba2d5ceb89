import fs from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CACHE_CONTROL, clientHasCurrent } from '../http/conditional.js';
import type { App } from '../http/types.js';
import { contentTag } from '../storage/hash.js';

// Files the pages link (CSP allows no inline style or script): read once at start-up, sent with
// their content's ETag.

export interface Asset {
  bytes: Buffer;
  tag: string;
  type: string;
}

/** Reads a file next to the code that serves it, e.g. `new URL('./assets/admin.css', import.meta.url)`. */
export function readAsset(file: URL, type: string): Asset {
  const bytes = fs.readFileSync(file);
  return { bytes, tag: contentTag(bytes), type };
}

/** Sends an asset; 304 when the client has it. */
export function sendAsset(request: FastifyRequest, reply: FastifyReply, { bytes, tag, type }: Asset) {
  if (clientHasCurrent(request, reply, { tag, cacheControl: CACHE_CONTROL.shared })) return reply.status(304).send();
  return reply.type(type).send(bytes);
}

/** The stylesheets and the one script every page links. */
export function webAssetRoutes(app: App): void {
  const stylesheet = readAsset(new URL('./assets/portal.css', import.meta.url), 'text/css; charset=utf-8');
  const forms = readAsset(new URL('./assets/forms.css', import.meta.url), 'text/css; charset=utf-8');
  const script = readAsset(new URL('./assets/portal.js', import.meta.url), 'text/javascript; charset=utf-8');
  app.get('/assets/portal.css', { schema: { summary: 'Portal stylesheet', tags: ['portal'] } }, (request, reply) =>
    sendAsset(request, reply, stylesheet),
  );
  app.get(
    '/assets/forms.css',
    { schema: { summary: 'Form controls stylesheet', tags: ['portal'] } },
    (request, reply) => sendAsset(request, reply, forms),
  );
  app.get('/assets/portal.js', { schema: { summary: 'Portal script', tags: ['portal'] } }, (request, reply) =>
    sendAsset(request, reply, script),
  );
  // The pages link it; browsers that ask for /favicon.ico on their own get the same picture.
  const icon = readAsset(new URL('./assets/icon.svg', import.meta.url), 'image/svg+xml');
  for (const path of ['/assets/icon.svg', '/favicon.ico']) {
    app.get(path, { schema: { summary: 'The site’s icon (SVG)', tags: ['portal'] } }, (request, reply) =>
      sendAsset(request, reply, icon),
    );
  }
}
