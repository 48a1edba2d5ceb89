import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, serviceUnavailable } from '../errors.js';

// Request bodies are read whole into memory before their route runs: a picture of up to 4–5 MB, a
// form or a token request of up to 1 MB. A client that sends all but the last byte and then goes
// quiet holds that memory until the request's deadline, and can open connection after connection.
// So the bytes that the bodies arriving at once have announced are budgeted, for each sender and
// for the whole process. The sender is whoever the route's credentials showed (a user, an app),
// known before the body is read; without credentials, the client address. (So people of one
// office behind one address each have their own share for their uploads.) A body over either
// budget is refused before a byte of it is read: 429 for the sender, 503 for the server, each with
// Retry-After and the connection closed. A finished request gives its share back when its answer
// is done (or its connection goes).

export interface BodyBudgetLimits {
  /** Bytes one sender (a user, an app, or an address without credentials) may have arriving at once. */
  perSenderBytes: number;
  /** Bytes every client together may have arriving at once. */
  totalBytes: number;
  /**
   * The most one body is counted as: more than any route takes (a multipart upload of the 4 MB
   * photo with its form fields, a 5 MB site picture). A larger announced body is refused as too
   * large by its route, without being read.
   */
  largestBodyBytes: number;
}

const MB = 1024 * 1024;
export const DEFAULT_BODY_BUDGET: BodyBudgetLimits = {
  perSenderBytes: 32 * MB,
  totalBytes: 256 * MB,
  largestBodyBytes: 6 * MB,
};

export interface BodyBudget {
  /** Counts the request's body until its answer is done; the refusal when there is no room for it. */
  admit(request: FastifyRequest, reply: FastifyReply): AppError | undefined;
  /** Bytes counted now, for all addresses. */
  inFlight(): number;
}

export function createBodyBudget(limits: BodyBudgetLimits = DEFAULT_BODY_BUDGET): BodyBudget {
  let total = 0;
  const bySender = new Map<string, number>();
  return {
    inFlight: () => total,
    admit(request, reply) {
      const bytes = announcedBytes(request, limits.largestBodyBytes);
      if (bytes === 0) return undefined;
      const sender = senderOf(request);
      const mine = bySender.get(sender) ?? 0;
      if (mine + bytes > limits.perSenderBytes) {
        return new AppError(
          'rate_limited',
          'Too many of your requests are still sending their bodies. Wait a moment and send it again.',
          { retryAfterSeconds: 5 },
        );
      }
      if (total + bytes > limits.totalBytes) {
        return serviceUnavailable('The server is receiving too many requests at once. Send it again in a moment.', 5);
      }
      bySender.set(sender, mine + bytes);
      total += bytes;
      let given = false;
      const giveBack = () => {
        if (given) return;
        given = true;
        total -= bytes;
        const left = (bySender.get(sender) ?? bytes) - bytes;
        if (left > 0) bySender.set(sender, left);
        else bySender.delete(sender);
      };
      // 'close' comes once the answer is sent, or when the connection goes before that.
      reply.raw.once('close', giveBack);
      return undefined;
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

/** What a request's body is counted as: its Content-Length (up to the largest), or the largest when it is chunked. */
function announcedBytes(request: FastifyRequest, largest: number): number {
  const { headers } = request.raw;
  const length = headers['content-length'];
  if (length !== undefined) {
    const declared = Number(length);
    return Number.isFinite(declared) && declared > 0 ? Math.min(declared, largest) : 0;
  }
  return headers['transfer-encoding'] !== undefined ? largest : 0;
}
