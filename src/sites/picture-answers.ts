import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { headTooLarge } from '../http/request-head.js';
import type { ByteCache } from '../storage/byte-cache.js';
import { FROM_DIRECTORY, FROM_PICTURES, NOT_CACHED, type ReadCache } from '../storage/read-cache.js';
import { LIBRARY_URL_PATH } from './library.js';

// A picture asked for again by the same credential, with the same address and the same
// If-None-Match, gets the same answer as long as nothing in the database changed and the
// credential still holds. Such answers are kept in the read cache (so a commit, here or in
// another process, drops them with the rows) and given before the request reaches the framework:
// no routing, no hooks, no query parsing, no credential or row lookups. Everything else (a first
// request, another credential, the owner's own L picture, which syncs first, refusals, HEAD)
// takes the whole path, which is where answers are made.
//
// Whether anything was committed is looked at once for all the requests read in one turn of the
// event loop, after the last of them was read: each request with a kept answer waits for the end
// of the turn's reading (setImmediate), then one look at the change counters (on SQLite a read of
// the WAL index header, a system call) serves them all. Every one of them arrived before that
// look, so an answer is never older than the database was when its request arrived; under load,
// when many connections' requests are read in one turn, the look's cost is shared.

/** The addresses answered from memory, as clients send them: userphoto.aspx and the "User Photos" library's files. */
const PICTURE_ADDRESSES = ['/_layouts/15/userphoto.aspx?', `${LIBRARY_URL_PATH}/`];

export const isPictureAddress = (url: string): boolean =>
  url.startsWith(PICTURE_ADDRESSES[0]!) || url.startsWith(PICTURE_ADDRESSES[1]!);

/** A kept answer: status and headers as the whole path sent them, and its bytes (by blob key, or the placeholder's). */
interface Answer {
  status: 200 | 304;
  headers: Record<string, string | number | string[] | undefined>;
  blobKey: string | undefined;
  body: Buffer | undefined;
  /** When the credential stops holding: after it the whole path answers (and refuses). */
  until: number;
  /**
   * What else the answer was made from that no commit announces, asked at each use: the settings
   * each process re-reads on its own (the placeholder's size).
   */
  stillCurrent: (() => boolean) | undefined;
}

/** A request that has a kept answer, waiting for the end of the turn's reading. */
interface Waiting {
  req: IncomingMessage;
  res: ServerResponse;
  key: string;
  app: (req: IncomingMessage, res: ServerResponse) => void;
}

/**
 * The longest key kept: a picture's address, a credential, a session cookie and an entity tag fit
 * in far less; a request padded with parameters the route ignores is answered, not kept.
 */
const MAX_KEY_LENGTH = 2048;

export interface PictureAnswers {
  /** The pictures' bytes by blob key (immutable), shared by the whole path and the kept answers. */
  readonly bytes: ByteCache;
  /**
   * Answers a request from memory, at the end of this turn of the event loop, or hands it on to
   * `app` (the framework) when there is no kept answer for it: at once when none is kept under its
   * key, at the end of the turn when the one kept is no longer current.
   */
  serve(req: IncomingMessage, res: ServerResponse, app: (req: IncomingMessage, res: ServerResponse) => void): void;
  /**
   * Keeps the answer the whole path is about to send, when it may be given again without it: a
   * GET of a picture address by a user's credential (its expiry known), and nothing committed since
   * the request's first read. Call right before `reply.send`, with the headers all set.
   */
  keep(
    request: FastifyRequest,
    reply: FastifyReply,
    status: 200 | 304,
    bytes: { blobKey: string; length: number } | { body: Buffer } | undefined,
    stillCurrent?: () => boolean,
  ): void;
  /** From now on every request takes the whole path (the app is closing and answers 503). */
  stop(): void;
}

export function createPictureAnswers(
  reads: ReadCache,
  /** Counts the answers given from memory. */
  answered: { inc(): void },
  /** The pictures' bytes by blob key, which a publish fills with the renditions it switched to. */
  bytes: ByteCache,
  /** Told why a kept answer could not be given (the request then takes the whole path). */
  answerFailed: (error: unknown) => void = () => {},
): PictureAnswers {
  let stopped = false;
  /** The requests read in this turn that have a kept answer, in the order they came. */
  let waiting: Waiting[] = [];

  /** The key of a request that may have a kept answer; undefined for one that never has. */
  function candidateKey(req: IncomingMessage): string | undefined {
    const url = req.url;
    if (stopped || req.method !== 'GET' || url === undefined || url.length > MAX_KEY_LENGTH) return undefined;
    if (!isPictureAddress(url)) return undefined;
    // A head larger than photosync takes is refused by the framework's first hook.
    if (headTooLarge(req)) return undefined;
    const headers = req.headers;
    // A request with a body is left to the framework, which knows what to do with one.
    if (headers['content-length'] !== undefined || headers['transfer-encoding'] !== undefined) return undefined;
    return answerKey(url, headers.authorization, headers.cookie, headers['if-none-match']);
  }

  /** Gives the kept answers of the requests read in this turn, after one look at the change counters. */
  function answerWaiting(): void {
    const batch = waiting;
    waiting = [];
    // One request's view: the other processes' commits are looked for once, at its first read,
    // which is now, after every request in the batch was read.
    const view = reads.forRequest();
    const now = Date.now();
    for (const { req, res, key, app } of batch) {
      // The client went away while its request waited: nothing to answer, nothing to work out.
      if (res.destroyed) continue;
      let answered = false;
      try {
        answered = answerFromMemory(view, key, now, res);
      } catch (error) {
        // A look that failed (the WAL index unreadable) or a kept answer that could not be sent:
        // the framework answers this request, and the others in the batch are still answered.
        answerFailed(error);
      }
      if (!answered) app(req, res);
    }
  }

  function answerFromMemory(view: ReadCache, key: string, now: number, res: ServerResponse): boolean {
    // Closed while it waited: the app answers 503.
    if (stopped) return false;
    const found = view.cached<Answer | undefined>(key);
    if (found === NOT_CACHED || found === undefined || found.until <= now) return false;
    if (found.stillCurrent && !found.stillCurrent()) return false;
    const body = found.blobKey === undefined ? found.body : bytes.get(found.blobKey);
    if (found.status === 200 && body === undefined) return false;
    res.writeHead(found.status, found.headers);
    res.end(found.status === 200 ? body : undefined);
    answered.inc();
    return true;
  }

  return {
    bytes,
    serve(req, res, app) {
      const key = candidateKey(req);
      if (key === undefined || !reads.holds(key)) return app(req, res);
      waiting.push({ req, res, key, app });
      if (waiting.length === 1) setImmediate(answerWaiting);
    },
    keep(request, reply, status, source, stillCurrent) {
      const principal = request.principal;
      const url = request.originalUrl;
      if (stopped || request.method !== 'GET' || !isPictureAddress(url)) return;
      if (principal?.kind !== 'user' || principal.until === undefined) return;
      if (status === 200 && source === undefined) return;
      // A copy (Fastify's getHeaders makes one), with the length Fastify adds after this.
      const headers = reply.getHeaders();
      const body = source && 'body' in source ? source.body : undefined;
      if (source) headers['content-length'] = String('body' in source ? source.body.length : source.length);
      const answer: Answer = {
        status,
        headers,
        blobKey: source && 'blobKey' in source ? source.blobKey : undefined,
        body,
        until: principal.until,
        stillCurrent,
      };
      const { raw } = request;
      const key = answerKey(url, raw.headers.authorization, raw.headers.cookie, raw.headers['if-none-match']);
      // Made from the credential's rows and the picture's: a sync's "checked" time leaves it kept.
      if (key.length <= MAX_KEY_LENGTH) request.reads.keep(key, answer, FROM_DIRECTORY | FROM_PICTURES);
    },
    stop() {
      stopped = true;
    },
  };
}

/** Everything of a request a picture's answer depends on: the address, the credentials, what the client has. */
const answerKey = (
  url: string,
  authorization: string | undefined,
  cookie: string | undefined,
  ifNoneMatch: string | undefined,
) => `answer\n${url}\n${present(authorization)}\n${present(cookie)}\n${present(ifNoneMatch)}`;

/** A header's value, told apart from no header at all. */
const present = (value: string | undefined) => (value === undefined ? '-' : `=${value}`);
