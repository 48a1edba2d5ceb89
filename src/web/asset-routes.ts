import fs from 'node:fs';
import type { App } from '../http/types.js';
import { contentTag } from '../storage/hash.js';

// The stylesheet and the one script every page links (CSP allows no inline style or script).

const STYLESHEET = fs.readFileSync(new URL('./assets/portal.css', import.meta.url));
const STYLESHEET_ETAG = `"${contentTag(STYLESHEET)}"`;
const SCRIPT = fs.readFileSync(new URL('./assets/portal.js', import.meta.url));
const SCRIPT_ETAG = `"${contentTag(SCRIPT)}"`;

export function webAssetRoutes(app: App): void {
  app.get('/assets/portal.css', { schema: { summary: 'Portal stylesheet', tags: ['portal'] } }, (request, reply) => {
    reply.header('etag', STYLESHEET_ETAG).header('cache-control', 'public, max-age=300');
    if (request.headers['if-none-match'] === STYLESHEET_ETAG) return reply.status(304).send();
    return reply.type('text/css; charset=utf-8').send(STYLESHEET);
  });

  app.get('/assets/portal.js', { schema: { summary: 'Portal script', tags: ['portal'] } }, (request, reply) => {
    reply.header('etag', SCRIPT_ETAG).header('cache-control', 'public, max-age=300');
    if (request.headers['if-none-match'] === SCRIPT_ETAG) return reply.status(304).send();
    return reply.type('text/javascript; charset=utf-8').send(SCRIPT);
  });
}
