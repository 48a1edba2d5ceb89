import { Transform, type Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, serviceUnavailable } from '../errors.js';

// Request bodies are read whole into memory before their route runs: a picture of up to 4–5 MB, a
// form or a token request of up to 1 MB. Clients that send all but the last byte and then go quiet
// would hold that memory until the request's deadline, connection after connection. So the bytes
// of bodies that have arrived and are not yet answered are counted, for each sender and for the
// whole process. The sender is whoever the route's credentials showed (a user, an app), known
// before the body is read; without credentials, the client address. (So the people of one office
// behind one address each have their own share for their uploads.) Bytes are counted as they
// arrive, not as announced, so a connection that announces a body and sends nothing holds nothing.
// (Multipart uploads are the exception: their parser reads the request itself, not the stream
// handed on here, so their announced length, at most UPLOAD_LARGEST_BYTES, is counted at once. They
// come from the signed-in pages' upload forms, so they count against a person's own share.)
// A sender already over its share is refused before a byte is read; a body that takes the sender
// or the process over is refused as the byte that does so arrives: 429 for the sender, 503 for the
// server, each with Retry-After and the connection closed. A request's bytes are given back when
// its answer is done or its connection goes.

export interface BodyBudgetLimits {
  /** Bytes of one sender's (a user, an app, or an address without credentials) unanswered bodies. */
  perSenderBytes: number;
  /** Bytes of every client's unanswered bodies together. */
  totalBytes: number;
}

const MB = 1024 * 1024;
/** What a multipart upload counts as at most: more than the upload forms take (the 4 MB photo and its fields). */
export const UPLOAD_LARGEST_BYTES = 6 * MB;
export const DEFAULT_BODY_BUDGET: BodyBudgetLimits = { perSenderBytes: 32 * MB, totalBytes: 256 * MB };

export interface BodyBudget {
  /**
   * For the preParsing hook: the body stream, counted as it is read, and the refusal when the
   * sender is over its share already.
   */
  admit(request: FastifyRequest, reply: FastifyReply, payload: Readable): { payload: Readable } | { refused: AppError };
  /** Bytes counted now, for all senders. */
  inFlight(): number;
}

const senderRefusal = () =>
  new AppError(
    'rate_limited',
    'Too many of your requests are still sending their bodies. Wait a moment and send it again.',
    {
      retryAfterSeconds: 5,
    },
  );
const serverRefusal = () =>
  serviceUnavailable('The server is receiving too many requests at once. Send it again in a moment.', 5);

export function createBodyBudget(limits: BodyBudgetLimits = DEFAULT_BODY_BUDGET): BodyBudget {
  let total = 0;
  const bySender = new Map<string, number>();
  const give = (sender: string, bytes: number) => {
    total -= bytes;
    const left = (bySender.get(sender) ?? bytes) - bytes;
    if (left > 0) bySender.set(sender, left);
    else bySender.delete(sender);
  };
  return {
    inFlight: () => total,
    admit(request, reply, payload) {
      if (!bodyAnnounced(request)) return { payload };
      // The client left while its credentials were being read: nothing will arrive, nothing is counted.
      if (reply.raw.closed || request.raw.destroyed) return { payload };
      const sender = senderOf(request);
      if ((bySender.get(sender) ?? 0) >= limits.perSenderBytes) return { refused: senderRefusal() };
      if (total >= limits.totalBytes) return { refused: serverRefusal() };
      let counted = 0;
      let done = false;
      const charge = (bytes: number) => {
        bySender.set(sender, (bySender.get(sender) ?? 0) + bytes);
        total += bytes;
        counted += bytes;
      };
      // 'close' comes once the answer is sent, or when the connection goes before that.
      reply.raw.once('close', () => {
        done = true;
        give(sender, counted);
        counted = 0;
      });
      if (isMultipart(request)) {
        const announced = announcedBytes(request);
        if ((bySender.get(sender) ?? 0) + announced > limits.perSenderBytes) return { refused: senderRefusal() };
        if (total + announced > limits.totalBytes) return { refused: serverRefusal() };
        charge(announced);
        return { payload };
      }
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, next) {
          if (done) return next(null, chunk);
          if ((bySender.get(sender) ?? 0) + chunk.length > limits.perSenderBytes) return next(senderRefusal());
          if (total + chunk.length > limits.totalBytes) return next(serverRefusal());
          charge(chunk.length);
          next(null, chunk);
        },
      });
      // What the parsers read from: the body, counted. A request that fails (the client went, its
      // deadline passed) fails its reader too, if one is reading; after the body was read or
      // refused, nobody is, and the error has nowhere to go: it must not end the process.
      counter.on('error', () => {});
      payload.on('error', (error) => counter.destroy(error));
      return { payload: payload.pipe(counter) };
    },
  };
}

/** Whom a body is counted against: the credentials' user or app, else the client's address. */
function senderOf(request: FastifyRequest): string {
  const principal = request.principal;
  if (principal?.kind === 'user') return `user:${principal.user.id}`;
  if (principal?.kind === 'app') return `app:${principal.app.clientId}`;
  return `address:${request.ip}`;
}

function bodyAnnounced(request: FastifyRequest): boolean {
  const { headers } = request.raw;
  const length = headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return headers['transfer-encoding'] !== undefined;
}

function isMultipart(request: FastifyRequest): boolean {
  return /^multipart\//i.test(request.raw.headers['content-type'] ?? '');
}

/** A multipart upload's announced length, up to the largest any form takes; a chunked one counts as that. */
function announcedBytes(request: FastifyRequest): number {
  const declared = Number(request.raw.headers['content-length']);
  return Number.isFinite(declared) && declared > 0 ? Math.min(declared, UPLOAD_LARGEST_BYTES) : UPLOAD_LARGEST_BYTES;
}
