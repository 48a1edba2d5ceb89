import fs from 'node:fs';
import Fastify from 'fastify';

// The serving benchmark's third contender: the same stack (Node.js and Fastify, one process) with a
// route that does no work at all. It answers the same JPEG bytes with the same validators and the
// same picture headers as userphoto.aspx, 304 when If-None-Match matches, and checks nothing. The
// gap between it and nginx is the stack's; the gap between it and photosync is photosync's work.
//
// Usage: tsx bench/ceiling-server.ts <jpeg file> <quoted etag>; prints "listening <url>".

const [file, etag] = process.argv.slice(2);
if (!file || !etag) {
  process.stderr.write('usage: ceiling-server <jpeg file> <quoted etag>\n');
  process.exit(2);
}
const jpeg = fs.readFileSync(file);
const headers = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'; sandbox",
  'x-content-type-options': 'nosniff',
  'cross-origin-resource-policy': 'same-origin',
  'x-frame-options': 'SAMEORIGIN',
  etag,
  'cache-control': 'private, no-cache',
  vary: 'Authorization, Cookie',
};

const app = Fastify();
app.get('/photo.jpg', (request, reply) => {
  reply.headers(headers);
  if (request.headers['if-none-match'] === etag) return reply.status(304).send();
  return reply.type('image/jpeg').send(jpeg);
});
const url = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`listening ${url}/photo.jpg\n`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
