import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { createByteCache } from '../storage/byte-cache.js';
import { createReadCache, type ReadCache } from '../storage/read-cache.js';
import { createPictureAnswers } from './picture-answers.js';

// The kept answers look at the change counters once for all the requests read in one turn of the
// event loop, after the last of them was read. The read cache here is the real one, over counters
// this test moves and counts; the requests and responses stand in for Node's (the HTTP path is
// tested in test/picture-answers.test.ts).

const URL = '/_layouts/15/userphoto.aspx?size=M&accountname=someone%40contoso.com';
const AUTHORIZATION = 'Bearer abc';

function setUp() {
  let commits = 0;
  let looks = 0;
  let lookFails = false;
  const reads = createReadCache({
    byTopic: false,
    local: () => 0,
    remote: () => {
      looks++;
      if (lookFails) throw new Error('EIO: the WAL index could not be read');
      return commits;
    },
  });
  let fromMemory = 0;
  const failures: unknown[] = [];
  const answers = createPictureAnswers(reads, { inc: () => fromMemory++ }, createByteCache(1024 * 1024), (error) =>
    failures.push(error),
  );
  // What the whole path does: reads (its view of the counters) and keeps the answer it sends.
  const keep = () => {
    const requestReads: ReadCache = reads.forRequest();
    requestReads.cached('whose picture');
    const request = {
      method: 'GET',
      originalUrl: URL,
      principal: { kind: 'user', until: Date.now() + 60_000 },
      raw: { headers: { authorization: AUTHORIZATION } },
      reads: requestReads,
    } as unknown as FastifyRequest;
    const reply = { getHeaders: () => ({ etag: '"E1"' }) } as unknown as FastifyReply;
    answers.keep(request, reply, 304, undefined);
  };
  return {
    answers,
    keep,
    commit: () => commits++,
    failLooks: () => (lookFails = true),
    failures,
    looks: () => looks,
    fromMemory: () => fromMemory,
  };
}

interface Sent {
  status?: number;
  ended: boolean;
  handedOn: boolean;
}

/** A request for the picture as Node hands it over, and a response that records what was sent. */
function exchange(): { req: IncomingMessage; res: ServerResponse; sent: Sent } {
  const sent: Sent = { ended: false, handedOn: false };
  const req = {
    method: 'GET',
    url: URL,
    headers: { authorization: AUTHORIZATION },
    rawHeaders: ['Authorization', AUTHORIZATION],
  } as unknown as IncomingMessage;
  const res = {
    destroyed: false,
    writeHead: (status: number) => (sent.status = status),
    end: () => (sent.ended = true),
  } as unknown as ServerResponse;
  return { req, res, sent };
}

const endOfTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('kept picture answers', () => {
  it('answers the requests read in one turn after one look at the change counters', async () => {
    const { answers, keep, looks, fromMemory } = setUp();
    keep();
    const before = looks();
    const exchanges = Array.from({ length: 5 }, exchange);
    for (const { req, res, sent } of exchanges) answers.serve(req, res, () => (sent.handedOn = true));
    // Nothing is answered before the turn's reading ends: a request read later in it may come.
    expect(exchanges.map(({ sent }) => sent.ended)).toEqual([false, false, false, false, false]);
    await endOfTurn();
    expect(exchanges.map(({ sent }) => [sent.status, sent.ended, sent.handedOn])).toEqual(
      Array.from({ length: 5 }, () => [304, true, false]),
    );
    expect(looks() - before).toBe(1);
    expect(fromMemory()).toBe(5);
  });

  it('hands every request of the turn to the app when a commit came before the look', async () => {
    const { answers, keep, commit, fromMemory } = setUp();
    keep();
    const exchanges = Array.from({ length: 3 }, exchange);
    for (const { req, res, sent } of exchanges) answers.serve(req, res, () => (sent.handedOn = true));
    // Another process commits after the requests were read, before the end of the turn.
    commit();
    await endOfTurn();
    expect(exchanges.map(({ sent }) => [sent.ended, sent.handedOn])).toEqual([
      [false, true],
      [false, true],
      [false, true],
    ]);
    expect(fromMemory()).toBe(0);
  });

  it('hands a request with no kept answer to the app at once, without a look', () => {
    const { answers, looks } = setUp();
    const { req, res, sent } = exchange();
    answers.serve(req, res, () => (sent.handedOn = true));
    expect(sent.handedOn).toBe(true);
    expect(looks()).toBe(0);
  });

  it('hands the waiting requests to the app (which answers 503) when it stops before the turn ends', async () => {
    const { answers, keep, fromMemory } = setUp();
    keep();
    const { req, res, sent } = exchange();
    answers.serve(req, res, () => (sent.handedOn = true));
    answers.stop();
    await endOfTurn();
    expect([sent.ended, sent.handedOn]).toEqual([false, true]);
    expect(fromMemory()).toBe(0);
  });

  it('hands every request of the turn to the app when the look fails, and says why', async () => {
    const { answers, keep, failLooks, failures, fromMemory } = setUp();
    keep();
    failLooks();
    const exchanges = Array.from({ length: 3 }, exchange);
    for (const { req, res, sent } of exchanges) answers.serve(req, res, () => (sent.handedOn = true));
    await endOfTurn();
    expect(exchanges.map(({ sent }) => [sent.ended, sent.handedOn])).toEqual([
      [false, true],
      [false, true],
      [false, true],
    ]);
    expect(failures).toHaveLength(3);
    expect(fromMemory()).toBe(0);
  });

  it('neither answers nor hands on a request whose client went away while it waited', async () => {
    const { answers, keep, looks } = setUp();
    keep();
    const before = looks();
    const { req, res, sent } = exchange();
    answers.serve(req, res, () => (sent.handedOn = true));
    (res as { destroyed: boolean }).destroyed = true;
    await endOfTurn();
    expect([sent.ended, sent.handedOn]).toEqual([false, false]);
    expect(looks() - before).toBe(0);
  });
});
