import { describe, expect, it } from 'vitest';
import { runBatched, type BatchEnvelope, type BatchRequest, type BatchResponse, type SendBatch } from './batch.js';
import { createVirtualClock, type VirtualClock } from './test-clock.js';

const requestsFor = (count: number): BatchRequest[] =>
  Array.from({ length: count }, (_, i) => ({ id: String(i + 1), method: 'GET', url: `/users/u${i + 1}/photo` }));

const ok = (id: string): BatchResponse => ({ id, status: 200, headers: {}, body: { '@odata.mediaEtag': `"E${id}"` } });
const throttled = (id: string, retryAfter?: string): BatchResponse => ({
  id,
  status: 429,
  headers: retryAfter === undefined ? {} : { 'Retry-After': retryAfter },
  body: { error: { code: 'TooManyRequests', message: 'Too many requests' } },
});

/** A sender that records each batch (ids and the virtual time it went) and answers with `answer`. */
function recordingSender(
  clock: VirtualClock,
  answer: (ids: string[], call: number) => BatchEnvelope | Promise<BatchEnvelope>,
) {
  const calls: { at: number; ids: string[] }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const send: SendBatch = async (requests) => {
    const ids = requests.map((r) => r.id);
    calls.push({ at: clock.now(), ids });
    const call = calls.length;
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await clock.sleep(100); // the round trip
    inFlight -= 1;
    return answer(ids, call);
  };
  return { send, calls, maxInFlight: () => maxInFlight };
}

const options = (clock: VirtualClock) => ({ clock, concurrency: 2, maxAttempts: 5, throttledForMs: 60_000 });

describe('runBatched', () => {
  it('sends at most 20 requests per batch and at most `concurrency` batches at once', async () => {
    const clock = createVirtualClock();
    const sender = recordingSender(clock, (ids) => ({ kind: 'answered', responses: ids.map(ok) }));
    const run = await clock.run(() => runBatched(requestsFor(45), sender.send, options(clock)));
    expect(sender.calls.map((c) => c.ids.length)).toEqual([20, 20, 5]);
    expect(sender.maxInFlight()).toBe(2);
    expect(run.batchesSent).toBe(3);
    expect([...run.results.keys()].sort((a, b) => Number(a) - Number(b))).toEqual(requestsFor(45).map((r) => r.id));
    expect(run.results.get('45')).toEqual({ kind: 'answered', response: ok('45') });
  });

  it('pauses every batch when Graph throttles requests inside one, and sends again only those', async () => {
    const clock = createVirtualClock();
    const start = clock.now();
    const sender = recordingSender(clock, (ids, call) => ({
      kind: 'answered',
      responses: ids.map((id) =>
        call === 1 && id === '2' ? throttled(id, '7') : call === 1 && id === '3' ? throttled(id, '30') : ok(id),
      ),
    }));
    const throttledWaits: number[] = [];
    const run = await clock.run(() =>
      runBatched(requestsFor(45), sender.send, { ...options(clock), onThrottled: (ms) => throttledWaits.push(ms) }),
    );
    const ids = (from: number, to: number) =>
      requestsFor(to)
        .slice(from - 1)
        .map((r) => r.id);
    // The last five wait with the two throttled ones until the longest Retry-After of the batch
    // has passed, rather than go out at once into the same limit.
    expect(sender.calls.map((c) => [c.at - start, c.ids])).toEqual([
      [0, ids(1, 20)],
      [0, ids(21, 40)],
      [100 + 30_000, [...ids(41, 45), '2', '3']],
    ]);
    expect(throttledWaits).toEqual([30_000]);
    expect([...run.results.values()].every((r) => r.kind === 'answered' && r.response.status === 200)).toBe(true);
  });

  it('gets every answer from a tenant that allows far fewer requests than it is sent, at the rate it allows', async () => {
    const clock = createVirtualClock();
    const start = clock.now();
    // Graph's throttling as photosync's tenant plays it: 30 requests a second in fixed windows,
    // each one past that answered 429 with the seconds left in the window.
    let window = { start, count: 0 };
    const sender = recordingSender(clock, (ids) => ({
      kind: 'answered',
      responses: ids.map((id) => {
        if (clock.now() - window.start >= 1000) window = { start: clock.now(), count: 0 };
        window.count += 1;
        if (window.count <= 30) return ok(id);
        return throttled(id, String(Math.max(1, Math.ceil((window.start + 1000 - clock.now()) / 1000))));
      }),
    }));
    const run = await clock.run(() =>
      runBatched(requestsFor(400), sender.send, { clock, concurrency: 4, maxAttempts: 8, throttledForMs: 10 * 60_000 }),
    );
    expect(run.results.size).toBe(400);
    expect([...run.results.values()].filter((r) => r.kind !== 'answered' || r.response.status !== 200)).toEqual([]);
    // 400 requests at 30 a second take some 14 s; nothing goes out while a pause holds.
    const took = sender.calls.at(-1)!.at - start;
    expect(took).toBeGreaterThan(12_000);
    expect(took).toBeLessThan(30_000);
  });

  it('pauses every batch when Graph throttles a whole batch, and loses nothing', async () => {
    const clock = createVirtualClock();
    const start = clock.now();
    const sender = recordingSender(clock, (ids, call) =>
      call === 1
        ? { kind: 'retry', status: 429, retryAfterMs: 30_000, message: 'throttled' }
        : { kind: 'answered', responses: ids.map(ok) },
    );
    const run = await clock.run(() => runBatched(requestsFor(60), sender.send, options(clock)));
    const [first, second, ...rest] = sender.calls;
    expect(first!.at - start).toBe(0);
    expect(second!.at - start).toBe(0); // already in flight when the first came back throttled
    // After the 429 nothing goes out until its Retry-After has passed.
    expect(rest.every((c) => c.at - start >= 100 + 30_000)).toBe(true);
    expect(run.results.size).toBe(60);
    expect(sender.calls.flatMap((c) => c.ids).filter((id) => first!.ids.includes(id))).toHaveLength(40);
  });

  it('backs off exponentially when no Retry-After is given, and keeps the last answer once throttledForMs has passed', async () => {
    const clock = createVirtualClock();
    const start = clock.now();
    const sender = recordingSender(clock, (ids) => ({
      kind: 'answered',
      responses: ids.map((id) => ({ ...throttled(id), status: 503 })),
    }));
    const run = await clock.run(() => runBatched(requestsFor(1), sender.send, { ...options(clock), maxAttempts: 4 }));
    // Sent at 0, then after 1, 2, 4, 8, 16 and 32 s of back-off (each round trip takes 100 ms): more
    // tries than maxAttempts, until the answer that came a minute after the first try.
    expect(sender.calls.map((c) => c.at - start)).toEqual([0, 1100, 3200, 7300, 15_400, 31_500, 63_600]);
    expect(run.results.get('1')).toMatchObject({ kind: 'answered', response: { status: 503 } });
  });

  it('gives a request that keeps failing with a server error up after maxAttempts tries', async () => {
    const clock = createVirtualClock();
    const sender = recordingSender(clock, (ids) => ({
      kind: 'answered',
      responses: ids.map((id) => ({ ...ok(id), status: 502, body: null })),
    }));
    const run = await clock.run(() => runBatched(requestsFor(1), sender.send, { ...options(clock), maxAttempts: 3 }));
    expect(sender.calls).toHaveLength(3);
    expect(run.results.get('1')).toMatchObject({ kind: 'answered', response: { status: 502 } });
  });

  it('tries a batch again after a network failure and fails it only after the last try', async () => {
    const clock = createVirtualClock();
    let calls = 0;
    const flaky: SendBatch = async (requests) => {
      calls += 1;
      if (calls < 3) throw new Error('connect ECONNRESET');
      return { kind: 'answered', responses: requests.map((r) => ok(r.id)) };
    };
    const run = await clock.run(() => runBatched(requestsFor(3), flaky, options(clock)));
    expect(calls).toBe(3);
    expect(clock.sleeps).toEqual([1000, 2000]);
    expect(run.results.get('3')).toEqual({ kind: 'answered', response: ok('3') });

    const down = await clock.run(() =>
      runBatched(requestsFor(2), async () => Promise.reject(new Error('getaddrinfo ENOTFOUND graph')), {
        ...options(clock),
        maxAttempts: 2,
      }),
    );
    expect(down.results.get('1')).toEqual({ kind: 'failed', message: 'getaddrinfo ENOTFOUND graph' });

    // A Graph that cannot be reached is given up after three tries (3 s of waiting), however many
    // a batch Graph answers may have: a person clicking a tile is not kept for minutes.
    let tries = 0;
    const refused = await clock.run(() =>
      runBatched(
        requestsFor(1),
        async () => {
          tries += 1;
          return { kind: 'retry', status: 0, message: 'connect ECONNREFUSED' };
        },
        { ...options(clock), maxAttempts: 8 },
      ),
    );
    expect(tries).toBe(3);
    expect(refused.results.get('1')).toEqual({ kind: 'failed', message: 'connect ECONNREFUSED' });
  });

  it('fails every request of a refused batch at once', async () => {
    const clock = createVirtualClock();
    const sender = recordingSender(clock, () => ({ kind: 'refused', status: 403, message: 'Insufficient privileges' }));
    const run = await clock.run(() => runBatched(requestsFor(25), sender.send, options(clock)));
    expect(sender.calls).toHaveLength(2);
    expect(run.results.get('25')).toEqual({ kind: 'failed', message: 'Insufficient privileges' });
  });

  it('asks again for a request the batch answer left out', async () => {
    const clock = createVirtualClock();
    const sender = recordingSender(clock, (ids, call) => ({
      kind: 'answered',
      responses: ids.filter((id) => call > 1 || id !== '2').map(ok),
    }));
    const run = await clock.run(() => runBatched(requestsFor(3), sender.send, options(clock)));
    expect(sender.calls.map((c) => c.ids)).toEqual([['1', '2', '3'], ['2']]);
    expect(run.results.get('2')).toEqual({ kind: 'answered', response: ok('2') });
  });
});
