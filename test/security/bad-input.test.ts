import net from 'node:net';
import type { LightMyRequestResponse } from 'fastify';
import { beforeAll, expect, it } from 'vitest';
import type { Services } from '../../src/services.js';
import { giveMailPhoto, solidJpeg } from '../support/factories.js';
import { describeEachDialect, useListeningTestApp, useTestApp } from '../support/services.js';
import { STACK_FRAME, createCast, type Cast, type Identity } from './identities.js';

// Walks /openapi.json and sends every documented route malformed parameters, bodies and headers.
// Routes added later are covered without a line of test: all they need is their schema.

interface Operation {
  parameters?: Array<{ in: 'query' | 'path' | 'header'; name: string }>;
  requestBody?: unknown;
}
interface OpenApi {
  paths: Record<string, Record<string, Operation>>;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

/** Values a confused client or an attacker puts in a parameter. */
const HOSTILE_VALUES = [
  '',
  'x'.repeat(5000),
  '%E0%A4%A',
  '%zz',
  '%00',
  '\u0000',
  '../../../../etc/passwd',
  '..%2F..%2Fetc%2Fpasswd',
  '<script>alert(1)</script>',
  "' or 1=1 --",
  '${jndi:ldap://x/a}',
  '\u202Egnp.exe',
  '😀'.repeat(50),
  'i:0#.f|membership|',
  '-1',
  '1e309',
  '[object Object]',
];

/** Query strings that are malformed as a whole rather than in one value. */
const HOSTILE_QUERIES = ['__proto__[x]=1', 'constructor[prototype][x]=1', '&&&==&', 'a[b][c][d][e][f]=1', '%'];

const HOSTILE_HEADERS: Array<Record<string, string>> = [
  { authorization: 'Bearer' },
  { authorization: 'Bearer a b c' },
  { authorization: `Bearer ${'a'.repeat(8000)}` },
  { authorization: 'Basic YWRtaW46YWRtaW4=' },
  { authorization: 'Bearer %00' },
  { cookie: 'photosync_session=%zz' },
  { cookie: `photosync_session=${'a'.repeat(4000)}` },
  { cookie: 'photosync_session=a; photosync_session=b; =; ;;' },
  { 'accept-language': 'x'.repeat(4000) },
  { 'accept-language': '*;q=foo, et;q=-1, ;;;' },
  { 'if-none-match': '"' + 'a'.repeat(4000) },
  { 'if-none-match': '*, W/, ""' },
  { 'x-forwarded-for': '999.999.999.999' },
  { host: '' },
];

/** Bodies for routes that take one, with the content type they claim. */
const HOSTILE_BODIES: Array<{ type: string; payload: string | Buffer }> = [
  { type: 'application/json', payload: '{' },
  { type: 'application/json', payload: '[1,2,3]' },
  { type: 'application/json', payload: 'null' },
  { type: 'application/json', payload: '{"__proto__":{"admin":true},"upn":5,"password":[]}' },
  { type: 'application/json', payload: '{"constructor":{"prototype":{"x":1}}}' },
  { type: 'application/json', payload: '['.repeat(5000) + ']'.repeat(5000) },
  { type: 'application/json', payload: `{"upn":"${'a'.repeat(1024 * 1024)}"}` },
  { type: 'application/json', payload: Buffer.from([0xff, 0xfe, 0x00, 0x7b]) },
  { type: 'application/x-www-form-urlencoded', payload: 'upn=%zz&password=%' },
  { type: 'application/x-www-form-urlencoded', payload: 'upn=a&upn=b&_csrf=x&_csrf=y' },
  { type: 'application/x-www-form-urlencoded', payload: '_csrf[$ne]=1' },
  { type: 'multipart/form-data; boundary=x', payload: '--x\r\nbroken' },
  // A file part cut off before its boundary.
  {
    type: 'multipart/form-data; boundary=x',
    payload: '--x\r\nContent-Disposition: form-data; name="photo"; filename="a.jpg"\r\n\r\nabc',
  },
  { type: 'text/plain', payload: 'hello' },
  {
    type: 'application/xml',
    payload: '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',
  },
];

interface ErrorBody {
  error?: string | { code?: unknown; message?: unknown };
  error_description?: unknown;
  'odata.error'?: { code?: unknown; message?: { value?: unknown } };
}

/**
 * A clear refusal or a normal answer; never a 500, never a stack trace. Errors come in the shape
 * of the API that answers: photosync's and Graph's `{error: {code, message}}`, the token
 * endpoint's OAuth `{error, error_description}`, SharePoint's `{"odata.error": {code, message}}`.
 */
function expectSafeAnswer(response: LightMyRequestResponse, what: string): void {
  expect(response.statusCode, what).toBeLessThan(500);
  expect(response.body, what).not.toMatch(STACK_FRAME);
  expect(response.body, what).not.toContain('node_modules');
  if (response.statusCode >= 400 && String(response.headers['content-type']).startsWith('application/json')) {
    const body = response.json<ErrorBody>();
    const [code, message] =
      typeof body.error === 'string'
        ? [body.error, body.error_description]
        : body['odata.error']
          ? [body['odata.error'].code, body['odata.error'].message?.value]
          : [body.error?.code, body.error?.message];
    expect(typeof code, what).toBe('string');
    expect(String(message), what).toMatch(/[A-Za-z]{3}/);
  }
}

/** Who walks a route: the signed-out, a user, and whoever gets past the route's door (admin, app). */
function identitiesFor(path: string): Identity[] {
  if (path === '/admin' || path.startsWith('/admin/')) return ['anonymous', 'user', 'admin'];
  if (path.startsWith('/v1.0/')) return ['anonymous', 'userToken', 'appReadWrite'];
  if (path.startsWith('/_api/')) return ['anonymous', 'user', 'userToken'];
  return ['anonymous', 'user'];
}

function fill(path: string, value: string): string {
  return path.replace(/\{[^}]+\}/g, value);
}

describeEachDialect('bad input everywhere', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let cast: Cast;
  let operations: Array<{ method: Method; path: string; operation: Operation }>;
  beforeAll(async () => {
    services = context.services;
    cast = await createCast(services);
    await giveMailPhoto(services, cast.owner, await solidJpeg([40, 200, 40], 64));
    const doc = (await context.app.inject({ url: '/openapi.json' })).json<OpenApi>();
    operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({
        method: method.toUpperCase() as Method,
        path,
        operation,
      })),
    );
  });

  const send = (
    method: Method,
    url: string,
    identity: Identity,
    extra: Record<string, string> = {},
    payload?: string | Buffer,
  ) =>
    context.app.inject({
      method,
      url,
      headers: { ...cast.headers[identity], ...extra },
      ...(payload !== undefined ? { payload } : {}),
    });

  it('finds the routes to walk in the OpenAPI document', () => {
    expect(operations.length).toBeGreaterThanOrEqual(10);
    expect(operations.some((o) => o.operation.parameters?.some((p) => p.in === 'path'))).toBe(true);
  });

  it('answers hostile values in every parameter with a clear answer, never a 500', async () => {
    let sent = 0;
    for (const { method, path, operation } of operations) {
      const parameters = operation.parameters ?? [];
      const base = fill(path, 'jane_contoso_com_MThumb.jpg').replaceAll(' ', '%20');
      for (const identity of identitiesFor(path)) {
        for (const value of HOSTILE_VALUES) {
          const encoded = /%[0-9a-z]{0,2}/i.test(value) ? value : encodeURIComponent(value);
          for (const parameter of parameters.filter((p) => p.in === 'query')) {
            const url = `${base}?${parameter.name}=${encoded}&${parameter.name}=again`;
            expectSafeAnswer(await send(method, url, identity), `${method} ${url} as ${identity}`);
            sent++;
          }
          if (parameters.some((p) => p.in === 'path')) {
            const url = fill(path, encoded).replaceAll(' ', '%20');
            expectSafeAnswer(await send(method, url, identity), `${method} ${url} as ${identity}`);
            sent++;
          }
        }
        for (const query of HOSTILE_QUERIES) {
          const url = `${base}?${query}`;
          expectSafeAnswer(await send(method, url, identity), `${method} ${url} as ${identity}`);
          sent++;
        }
      }
    }
    expect(sent).toBeGreaterThan(300);
  }, 240_000);

  it('answers malformed headers on every route with a clear answer, never a 500', async () => {
    for (const { method, path } of operations) {
      const url = fill(path, 'x_MThumb.jpg').replaceAll(' ', '%20');
      for (const headers of HOSTILE_HEADERS) {
        expectSafeAnswer(
          await send(method, url, 'anonymous', headers),
          `${method} ${url} ${JSON.stringify(headers).slice(0, 80)}`,
        );
      }
    }
  }, 240_000);

  it('never accepts a malformed body, on routes that take one and on those that do not', async () => {
    for (const { method, path } of operations) {
      const url = fill(path, 'x_MThumb.jpg').replaceAll(' ', '%20');
      for (const identity of identitiesFor(path)) {
        for (const body of HOSTILE_BODIES) {
          const response = await send(
            method === 'GET' ? 'POST' : method,
            url,
            identity,
            { 'content-type': body.type },
            body.payload,
          );
          const what = `${method} ${url} as ${identity} with ${body.type} ${String(body.payload).slice(0, 40)}`;
          expectSafeAnswer(response, what);
          // Never accepted; the signed-out may be sent to the sign-in page first (303). SharePoint's
          // contextinfo reads no body at all (clients send an empty one or `{}`), so it has nothing to refuse.
          if (path === '/_api/contextinfo' && response.statusCode === 200) continue;
          // Nor does a CORS preflight, which only says what a later request may send.
          if (method === 'OPTIONS' && response.statusCode === 204) continue;
          expect(response.statusCode, what).toBeGreaterThanOrEqual(identity === 'anonymous' ? 300 : 400);
        }
      }
    }
    // Too large is said as such.
    const huge = await send(
      'POST',
      '/signin',
      'anonymous',
      { 'content-type': 'application/json' },
      `{"upn":"${'a'.repeat(2 * 1024 * 1024)}"}`,
    );
    expect(huge.statusCode).toBe(413);
  }, 240_000);

  it('says what is wrong with a malformed account name', async () => {
    const names = [
      'not a upn',
      'jane@',
      '@contoso.com',
      'jane@@contoso.com',
      'i:0#.f|membership|',
      'jane@contoso',
      `${'a'.repeat(120)}@contoso.com`,
      'jane@contoso.com\u0000',
      'jäne@contoso.com ',
    ];
    for (const name of names) {
      const response = await send(
        'GET',
        `/_layouts/15/userphoto.aspx?size=M&accountname=${encodeURIComponent(name)}`,
        'user',
      );
      expect(response.statusCode, name).toBe(400);
      expect(response.json().error.message, name).toMatch(/is not an account name|not valid/);
    }
  });
});

describeEachDialect('bad requests on the wire', (dialect) => {
  const context = useListeningTestApp(dialect);

  /** Sends raw bytes and returns the status line of the answer (or '' when the server hung up). */
  const raw = (request: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = net.connect(context.port, '127.0.0.1', () => socket.end(request));
      let answer = '';
      socket.setEncoding('latin1').on('data', (chunk: string) => (answer += chunk));
      socket.on('error', reject);
      socket.on('close', () => resolve(answer));
    });

  it('answers requests that are not valid HTTP with a 4xx and keeps serving', async () => {
    const cases: Array<[string, RegExp]> = [
      ['GARBAGE\r\n\r\n', /^HTTP\/1\.1 400/],
      ['GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n\r\n', /^HTTP\/1\.1 400/],
      ['GET /healthz HTTP/1.1\r\nHost: x\r\nX: \u0001\r\n\r\n', /^HTTP\/1\.1 400/],
      [`GET /healthz HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`, /^HTTP\/1\.1 431/],
      ['GET /%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', /^HTTP\/1\.1 400/],
      [
        'POST /signin HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        /^HTTP\/1\.1 400/,
      ],
      ['POST /signin HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', /^HTTP\/1\.1 400/],
      ['GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 (400|505)/],
    ];
    for (const [request, expected] of cases) {
      const answer = await raw(request);
      expect(answer, JSON.stringify(request.slice(0, 60))).toMatch(expected);
      expect(answer).not.toMatch(STACK_FRAME);
    }
    const health = await fetch(`http://127.0.0.1:${context.port}/healthz`);
    expect(health.status).toBe(200);
  });
});
