import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { BATCH_ANSWER_HEADERS, isBatchOwnHeader, MAX_BATCHED_HEADER_BYTES } from '../http/batch-headers.js';
import type { App } from '../http/types.js';
import { sharePointErrors } from './rest-errors.js';
import { odataFormatOf } from './rest-odata.js';

// SharePoint's OData batch (POST /_api/$batch): a multipart/mixed body whose parts are HTTP
// requests (Content-Type: application/http), GETs on their own and writes grouped in changesets
// (nested multipart/mixed parts), as PnPjs's batched() writes them. Each request runs through the
// same routes as if sent alone, with the batch's own credentials; as in SharePoint, a changeset
// is not a transaction: its requests run one after another and each answers for itself. The
// answer is multipart/mixed with one application/http part per request, changesets flattened
// (PnPjs's parser reads no nested parts, and SharePoint sends none).

/** The most requests one batch may hold (PnPjs sends 20 at a time). */
export const MAX_BATCH_PARTS = 100;
/** The most bytes of one batch body: PnPjs sends text bodies only (JSON), so this is generous. */
export const BATCH_MAX_BYTES = 2 * 1024 * 1024;

interface BatchPart {
  method: 'GET' | 'POST';
  /** Path and query under /_api/. */
  url: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

const bad = (message: string) => sharePointErrors.badQuery(`Invalid batch request: ${message}`);

/** The batch's credentials, passed to each of its requests. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'x-requestdigest'] as const;

/** The boundary a multipart/mixed Content-Type names. */
function boundaryOf(type: string | undefined, what: string): string {
  if (!/^\s*multipart\/mixed\s*(?:;|$)/i.test(type ?? '')) {
    throw bad(`${what} must be multipart/mixed with a boundary, not ${type ?? 'without a Content-Type'}.`);
  }
  const match = /;\s*boundary\s*=\s*(?:"([^"]*)"|([^\s;"]*))/i.exec(type ?? '');
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) throw bad(`${what} names no boundary in its Content-Type.`);
  // Whole or not at all: cut to its first 70 characters, it could match lines it does not (RFC 2046).
  if (boundary.length > 70) {
    throw bad(
      `${what} names a boundary of ${boundary.length} characters; it takes a boundary of at most 70 characters.`,
    );
  }
  return boundary;
}

/** The parts between `--boundary` lines, up to `--boundary--` (text in latin1, one character per byte). */
function splitParts(text: string, boundary: string, what: string): string[] {
  const escaped = boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // The line break ending a boundary line is looked at, not taken: it may also be the one the next
  // boundary line starts with (an empty part), which is then found rather than read as content.
  const delimiter = new RegExp(`(?:^|\\r?\\n)--${escaped}(--)?[ \\t]*(?=\\r?\\n|$)`, 'g');
  const parts: string[] = [];
  let start: number | undefined;
  for (let match = delimiter.exec(text); match; match = delimiter.exec(text)) {
    if (start !== undefined) parts.push(text.slice(start, Math.max(start, match.index)));
    if (match[1] !== undefined) return parts;
    const end = match.index + match[0].length;
    start = end + (/^\r?\n/.exec(text.slice(end, end + 2))?.[0].length ?? 0);
    if (parts.length > MAX_BATCH_PARTS) break;
  }
  if (parts.length > MAX_BATCH_PARTS) throw tooMany();
  throw bad(`${what} does not end with --${boundary}--.`);
}

const tooMany = () => bad(`a batch holds at most ${MAX_BATCH_PARTS} requests.`);

/** Headers (names in lower case) and body of a MIME part or an HTTP message. */
function headersAndBody(text: string): { headerLines: string[]; body: string } {
  const end = /\r?\n\r?\n/.exec(text);
  const head = end ? text.slice(0, end.index) : text;
  const body = end ? text.slice(end.index + end[0].length) : '';
  return { headerLines: head === '' ? [] : head.split(/\r?\n/), body };
}

/** A header name: an HTTP token (RFC 9110), letters, digits and !#$%&'*+-.^_`|~ only. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Whether a header value holds a character it cannot: a control other than the tab (RFC 9110). */
const hasControl = (value: string) =>
  [...value].some((c) => c !== '\t' && (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f));

/** A header line as a person can read it in an error message: controls shown escaped, cut at 80 characters. */
const shown = (line: string) => JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line);

function parseHeaders(lines: string[], what: string): Record<string, string> {
  const size = lines.reduce((sum, line) => sum + Buffer.byteLength(line) + 2, 0);
  if (size > MAX_BATCHED_HEADER_BYTES) {
    throw bad(
      `${what} has ${size.toLocaleString('en')} bytes of header lines; at most 16 KB (16,384 bytes) are taken, ` +
        'as for a request sent alone.',
    );
  }
  const headers: Record<string, string> = {};
  for (const line of lines) {
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon < 0) throw bad(`${what} has a header line without a colon (not "Name: value"): ${shown(line)}.`);
    const name = line.slice(0, colon);
    if (name.trim() === '') throw bad(`${what} has a header line with no name before its colon: ${shown(line)}.`);
    if (!HEADER_NAME.test(name)) {
      throw bad(
        `${what} has a header name with a space, control or other character a header name cannot hold: ` +
          `${shown(name)} (a name is letters, digits and !#$%&'*+-.^_\`|~, directly followed by the colon).`,
      );
    }
    const value = line.slice(colon + 1);
    if (hasControl(value)) {
      throw bad(`${what} has a control character in the value of its ${name} header: ${shown(line)}.`);
    }
    headers[name.toLowerCase()] = value.trim();
  }
  return headers;
}

/**
 * Refuses a part that is not one HTTP request as OData writes it: Content-Type application/http
 * (parameters such as msgtype=request allowed) and Content-Transfer-Encoding binary when named
 * (a part without one is read as binary too; no other encoding is decoded).
 */
function checkHttpPart(headers: Record<string, string>, what: string, orElse = ''): void {
  const type = headers['content-type'];
  if (!/^\s*application\/http\s*(?:;|$)/i.test(type ?? '')) {
    throw bad(
      `${what} must have Content-Type application/http${orElse}, not ${type === undefined ? 'none' : JSON.stringify(type)}.`,
    );
  }
  const encoding = headers['content-transfer-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'binary') {
    throw bad(`${what} must have Content-Transfer-Encoding binary, not ${JSON.stringify(encoding)}.`);
  }
}

/** Reads the batch body into its requests, refusing the whole batch when any of them is not one it can run. */
export function parseSharePointBatch(
  body: unknown,
  type: string | undefined,
  origins: string[],
  own: string,
): BatchPart[] {
  const boundary = boundaryOf(type, 'The batch');
  const text = Buffer.isBuffer(body) ? body.toString('latin1') : '';
  const requests: BatchPart[] = [];
  for (const part of splitParts(text, boundary, 'The batch')) {
    const { headerLines, body: content } = headersAndBody(part);
    const partHeaders = parseHeaders(headerLines, 'A batch part');
    const partType = partHeaders['content-type'];
    if (/^\s*multipart\/mixed\s*(?:;|$)/i.test(partType ?? '')) {
      const changeset = boundaryOf(partType, 'A changeset');
      for (const inner of splitParts(content, changeset, 'A changeset')) {
        const { headerLines: innerHeaders, body: request } = headersAndBody(inner);
        const innerPart = parseHeaders(innerHeaders, 'A changeset part');
        if (/^\s*multipart\//i.test(innerPart['content-type'] ?? '')) {
          throw bad('a changeset cannot hold another changeset.');
        }
        checkHttpPart(innerPart, 'A changeset part');
        const write = parseRequest(request, origins, own);
        if (write.method === 'GET') {
          throw bad(
            `GET ${write.url} is in a changeset: a changeset holds writes (POST) only; send GETs on their own.`,
          );
        }
        requests.push(write);
        if (requests.length > MAX_BATCH_PARTS) throw tooMany();
      }
    } else {
      checkHttpPart(partHeaders, 'A batch part', ' or a changeset (multipart/mixed)');
      requests.push(parseRequest(content, origins, own));
    }
    if (requests.length > MAX_BATCH_PARTS) throw tooMany();
  }
  if (requests.length === 0) throw bad('the batch holds no requests.');
  return requests;
}

/** One `METHOD url HTTP/1.1` request with its headers and body. */
function parseRequest(text: string, origins: string[], own: string): BatchPart {
  const newline = /\r?\n/.exec(text);
  const line = newline ? text.slice(0, newline.index) : text;
  const rest = newline ? text.slice(newline.index + newline[0].length) : '';
  const match = /^([A-Za-z]+) +(\S+) +HTTP\/1\.[01] *$/.exec(line);
  if (!match) throw bad(`a part has no request line like "GET /_api/web HTTP/1.1": ${line.slice(0, 80)}`);
  // No headers: the request line is followed directly by the blank line.
  const { headerLines, body } = /^\r?\n/.test(rest)
    ? { headerLines: [], body: rest.replace(/^\r?\n/, '') }
    : headersAndBody(rest);
  const headers = parseHeaders(headerLines, 'A batched request');
  const method = (headers['x-http-method'] ?? match[1]!).toUpperCase();
  if (method !== 'GET' && method !== 'POST') {
    throw bad(`${method} ${match[2]}: photosync's SharePoint API takes GET and POST requests only.`);
  }
  const passed: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (!isBatchOwnHeader(name)) passed[name] = value;
  // The body as it is, line breaks it ends with included: the one line break before the next
  // boundary belongs to that boundary (RFC 2046), and splitParts has already taken it.
  return {
    method,
    url: underApi(match[2]!, origins, own),
    headers: passed,
    body: body === '' ? undefined : Buffer.from(body, 'latin1'),
  };
}

/**
 * A request's address as its path and query under /_api/ (dot segments resolved): absolute on
 * this server (with or without its scheme), absolute from the root, or relative to /_api/. A batch reaches SharePoint's REST
 * API and nothing else of the server, and never another batch.
 */
function underApi(address: string, origins: string[], own: string): string {
  let url: URL;
  try {
    // Resolved against the batch's own address, so `//host/…` (or `\\host\…`) names that host.
    url = new URL(address, `${own}/_api/`);
  } catch {
    throw bad(`${address} is not an address.`);
  }
  if (!origins.includes(url.origin.toLowerCase())) {
    throw bad(`${address} is not on this site: a batch holds requests to this site's /_api/ only.`);
  }
  const path = url.pathname;
  if (!/^\/_api\//i.test(path)) throw bad(`${address} is not under /_api/: a batch holds requests to /_api/ only.`);
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // Not decodable: the router answers it as an address it does not have.
  }
  if (/^\/_api\/\$batch\/?$/i.test(decoded)) throw bad('a batch cannot hold another batch.');
  return `${path}${url.search}`;
}

/**
 * Runs the requests one after another, each with the batch's credentials, and writes SharePoint's
 * answer as a stream: a request runs only when the answer so far has been taken by the client, so
 * a batch of large answers (pictures, files) holds about one of them in memory, not all.
 */
export function runSharePointBatch(
  app: App,
  request: FastifyRequest,
  parts: BatchPart[],
): { boundary: string; body: Readable } {
  const boundary = `batchresponse_${randomUUID()}`;
  async function* answers(): AsyncGenerator<Buffer> {
    for (const part of parts) {
      const { status, headers, body } = await runPart(app, request, part);
      const head = [
        `--${boundary}`,
        'Content-Type: application/http',
        'Content-Transfer-Encoding: binary',
        '',
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}`,
        ...headers,
      ];
      yield Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1');
      yield body;
      yield Buffer.from('\r\n');
    }
    yield Buffer.from(`--${boundary}--\r\n`);
  }
  return { boundary, body: Readable.from(answers(), { objectMode: false, highWaterMark: 64 * 1024 }) };
}

/**
 * Runs one request of a batch with the batch's credentials: its status, the header lines passed
 * on and its body. A request that fails unexpectedly (the router throws rather than answers) is
 * answered 500 in SharePoint's error shape, as it would be alone, so the rest of the batch runs and
 * its answer, already being sent, ends as a whole multipart body.
 */
async function runPart(
  app: App,
  request: FastifyRequest,
  part: BatchPart,
): Promise<{ status: number; headers: string[]; body: Buffer }> {
  const headers: Record<string, string> = { ...part.headers };
  for (const name of CREDENTIAL_HEADERS) {
    const value = request.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  if (request.headers.host !== undefined) headers.host = request.headers.host;
  try {
    const response = await app.inject({
      method: part.method,
      url: part.url,
      headers,
      // The batch's client, so each request counts against its own address's limits.
      remoteAddress: request.ip,
      ...(part.body !== undefined ? { payload: part.body } : {}),
    });
    const lines: string[] = [];
    for (const name of BATCH_ANSWER_HEADERS) {
      const value = response.headers[name];
      if (typeof value === 'string') lines.push(`${name.toUpperCase()}: ${value}`);
    }
    return { status: response.statusCode, headers: lines, body: response.rawPayload };
  } catch (error) {
    request.log.error({ err: error, method: part.method, url: part.url }, 'A request in a $batch failed');
    const format = odataFormatOf(part.headers.accept ?? request.headers.accept);
    const error500 = {
      code: '-1, System.Exception',
      message: {
        lang: 'en-US',
        value: `${part.method} ${part.url} failed unexpectedly; the batch's other requests ran.`,
      },
    };
    return {
      status: 500,
      headers: [`CONTENT-TYPE: application/json;odata=${format};charset=utf-8`],
      body: Buffer.from(JSON.stringify(format === 'verbose' ? { error: error500 } : { 'odata.error': error500 })),
    };
  }
}
