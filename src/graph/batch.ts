import type { FastifyRequest } from 'fastify';
import { invalidInput } from '../errors.js';
import {
  BATCH_ANSWER_HEADERS,
  headerLineBytes,
  isBatchOwnHeader,
  MAX_BATCHED_HEADER_BYTES,
} from '../http/batch-headers.js';
import type { App } from '../http/types.js';

// Graph's JSON batching (POST /v1.0/$batch): up to 20 requests in one, each answered in Graph's
// shape as if sent alone with the batch's own Authorization. Requests run in the order given;
// one with dependsOn waits for those it names and fails with 424 when any of them failed. One that
// fails unexpectedly is answered 500 (generalException) and logged; the others still run. Bodies
// that are not JSON travel as base64 strings both ways, with their Content-Type header, as in
// Graph (https://learn.microsoft.com/graph/json-batching).

export const MAX_BATCH_REQUESTS = 20;

interface BatchStep {
  id: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
  dependsOn: string[];
}

interface BatchAnswer {
  id: string;
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}

const METHODS = ['GET', 'PUT', 'PATCH', 'POST', 'DELETE'];
/**
 * The headers of an answer the batch makes itself (a failed dependency, a refused step). Named
 * `Content-Type` as in every other answer: the Graph SDK's BatchResponseContent reads a body as
 * JSON only under that exact name.
 */
const JSON_ANSWER = { 'Content-Type': 'application/json' } as const;

const bad = (message: string) => invalidInput(message, 'invalid_request');
/** A header name: an HTTP token (RFC 9110). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A header value an HTTP request can carry: tabs, visible characters and Latin-1, no other control (RFC 9110). */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const isJsonType = (type: string | undefined) => /^application\/(?:[\w.+-]+\+)?json\b/i.test(type ?? '');

/** Reads and checks the batch body: {"requests":[{id, method, url, headers?, body?, dependsOn?}]}. */
export function parseBatch(body: unknown): BatchStep[] {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : '');
  } catch {
    throw bad('Invalid batch payload format: the body is not JSON.');
  }
  const requests = (value as { requests?: unknown } | null)?.requests;
  if (!Array.isArray(requests) || requests.length === 0) {
    throw bad('Invalid batch payload format: name the requests in a "requests" array.');
  }
  if (requests.length > MAX_BATCH_REQUESTS) {
    throw bad(`The number of batch requests exceeds the maximum of ${MAX_BATCH_REQUESTS}.`);
  }
  const seen = new Set<string>();
  return requests.map((raw: unknown, index) => {
    const step = (raw ?? {}) as Record<string, unknown>;
    const id = typeof step.id === 'number' ? String(step.id) : step.id;
    if (typeof id !== 'string' || id === '') throw bad(`Request ${index + 1} of the batch has no id.`);
    if (seen.has(id)) throw bad(`Request id ${id} is used more than once in the batch.`);
    const method = typeof step.method === 'string' ? step.method.toUpperCase() : '';
    if (!METHODS.includes(method)) throw bad(`Request ${id} has no valid method (GET, PUT, PATCH, POST or DELETE).`);
    const url = typeof step.url === 'string' && !/^[a-z]+:/i.test(step.url) ? underVersion(step.url) : undefined;
    if (url === undefined) {
      throw bad(`Request ${id} needs a url relative to the version, like /me or users/jane@contoso.com.`);
    }
    const headers: Record<string, string> = {};
    if (step.headers !== undefined) {
      if (step.headers === null || typeof step.headers !== 'object')
        throw bad(`The headers of request ${id} are not an object.`);
      const size = headerLineBytes(
        Object.entries(step.headers).map(([name, text]) => [name, typeof text === 'string' ? text : ''] as const),
      );
      if (size > MAX_BATCHED_HEADER_BYTES) {
        throw bad(
          `The headers of request ${id} take ${size.toLocaleString('en')} bytes; at most 16 KB (16,384 bytes), ` +
            'as for a request sent alone.',
        );
      }
      for (const [name, text] of Object.entries(step.headers)) {
        if (typeof text !== 'string') throw bad(`Header ${name} of request ${id} is not a string.`);
        if (!HEADER_NAME.test(name)) {
          throw bad(`Header name ${JSON.stringify(name)} of request ${id} is not one an HTTP request can carry.`);
        }
        if (!HEADER_VALUE.test(text)) {
          throw bad(
            `Header ${name} of request ${id} holds a control or non-Latin-1 character, which no HTTP request can carry.`,
          );
        }
        if (!isBatchOwnHeader(name.toLowerCase())) headers[name.toLowerCase()] = text;
      }
    }
    if (step.body !== undefined && headers['content-type'] === undefined) {
      throw bad(`Request ${id} has a body but no Content-Type header.`);
    }
    const dependsOn = step.dependsOn === undefined ? [] : step.dependsOn;
    if (!Array.isArray(dependsOn) || dependsOn.some((d) => typeof d !== 'string' || !seen.has(d))) {
      throw bad(`Request ${id} depends on a request that is not earlier in the batch.`);
    }
    seen.add(id);
    return { id, method, url, headers, body: step.body, dependsOn: dependsOn as string[] };
  });
}

/**
 * A request's url as the address it names under /v1.0 (dot segments resolved, in any spelling),
 * or undefined when it names none there: a batch reaches Graph and nothing else of the server.
 */
function underVersion(url: string): string | undefined {
  if (url === '') return undefined;
  const target = new URL(`/v1.0${url.startsWith('/') ? '' : '/'}${url}`, 'https://graph.invalid');
  return target.pathname.startsWith('/v1.0/') ? `${target.pathname}${target.search}` : undefined;
}

/** Whether a request's address names the batch itself, however its letters are escaped (the router decodes them). */
function isBatchAddress(url: string): boolean {
  const path = url.split('?')[0]!;
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // Not decodable: the router answers it as an address it does not have.
  }
  return /^\/v1\.0\/\$batch\/?$/i.test(decoded);
}

/** Runs the steps against the app, each as a request of its own with the batch's credentials. */
export async function runBatch(app: App, request: FastifyRequest, steps: BatchStep[]): Promise<BatchAnswer[]> {
  const statuses = new Map<string, number>();
  const answers: BatchAnswer[] = [];
  for (const step of steps) {
    const failed = step.dependsOn.find((id) => (statuses.get(id) ?? 500) >= 400);
    if (failed !== undefined) {
      statuses.set(step.id, 424);
      answers.push({
        id: step.id,
        status: 424,
        headers: { ...JSON_ANSWER },
        body: { error: { code: 'BadRequest', message: `Failed dependency: request ${failed} failed.` } },
      });
      continue;
    }
    let answer: BatchAnswer;
    try {
      answer = await runStep(app, request, step);
    } catch (error) {
      // The step failed in a way no route answers (the router threw, or an answer said it was JSON
      // and was not): that step is answered 500 as Graph does, and the rest of the batch still runs.
      request.log.error(
        { err: error, id: step.id, method: step.method, url: step.url },
        'A request in a $batch failed',
      );
      answer = {
        id: step.id,
        status: 500,
        headers: { ...JSON_ANSWER },
        body: {
          error: {
            code: 'generalException',
            message: `${step.method} ${step.url} failed unexpectedly; the batch's other requests ran.`,
          },
        },
      };
    }
    statuses.set(step.id, answer.status);
    answers.push(answer);
  }
  return answers;
}

async function runStep(app: App, request: FastifyRequest, step: BatchStep): Promise<BatchAnswer> {
  if (isBatchAddress(step.url)) {
    return {
      id: step.id,
      status: 400,
      headers: { ...JSON_ANSWER },
      body: { error: { code: 'BadRequest', message: 'A batch cannot hold another batch.' } },
    };
  }
  const type = step.headers['content-type'];
  let payload: string | Buffer | undefined;
  if (step.body !== undefined) {
    if (isJsonType(type)) payload = JSON.stringify(step.body);
    else if (typeof step.body === 'string') payload = Buffer.from(step.body, 'base64');
    else {
      return {
        id: step.id,
        status: 400,
        headers: { ...JSON_ANSWER },
        body: { error: { code: 'BadRequest', message: 'A body that is not JSON must be a base64 string.' } },
      };
    }
  }
  const headers: Record<string, string> = { ...step.headers };
  const authorization = request.headers.authorization;
  if (authorization !== undefined) headers.authorization = authorization;
  const response = await app.inject({
    method: step.method as 'GET',
    url: step.url,
    headers,
    // The batch's client, so each request counts against its own address's limits.
    remoteAddress: request.ip,
    ...(payload !== undefined ? { payload } : {}),
  });
  const answerHeaders: Record<string, string> = {};
  for (const name of BATCH_ANSWER_HEADERS) {
    const value = response.headers[name];
    if (typeof value === 'string') answerHeaders[name === 'content-type' ? 'Content-Type' : name] = value;
  }
  const answerType = answerHeaders['Content-Type'];
  const answer: BatchAnswer = { id: step.id, status: response.statusCode, headers: answerHeaders };
  if (response.rawPayload.length > 0) {
    answer.body = isJsonType(answerType)
      ? (JSON.parse(response.body) as unknown)
      : response.rawPayload.toString('base64');
  }
  return answer;
}
