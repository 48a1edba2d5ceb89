import { describe, expect, it } from 'vitest';
import {
  FROM_DIRECTORY,
  FROM_PICTURES,
  FROM_SYNC_INPUTS,
  NOT_CACHED,
  createReadCache,
  type ChangeCounters,
  type Topic,
} from './read-cache.js';

/** One counter for everything, as SQLite's. */
function fakeCounters() {
  const state = { local: 0, remote: 0, remoteReads: 0 };
  const counters: ChangeCounters = {
    byTopic: false,
    local: () => state.local,
    remote: () => {
      state.remoteReads++;
      return state.remote;
    },
  };
  return { state, counters };
}

/** Counters by topic (0 the directory, 1 the pictures, 2 the sync's inputs), as PostgreSQL's notices. */
function topicCounters() {
  const state = { local: [0, 0, 0], remote: [0, 0, 0] };
  const counters: ChangeCounters = {
    byTopic: true,
    local: (topic: Topic) => state.local[topic]!,
    remote: (topic: Topic) => state.remote[topic]!,
  };
  return { state, counters };
}

function loader(values: string[]) {
  let calls = 0;
  return {
    load: () => Promise.resolve(values[Math.min(calls++, values.length - 1)]!),
    calls: () => calls,
  };
}

describe('createReadCache', () => {
  it('answers from memory until this process or another one commits', async () => {
    const { state, counters } = fakeCounters();
    const cache = createReadCache(counters);
    const row = loader(['v1', 'v2', 'v3']);
    expect(await cache.read('k', row.load)).toBe('v1');
    expect(await cache.read('k', row.load)).toBe('v1');
    expect(row.calls()).toBe(1);
    state.local++;
    expect(await cache.read('k', row.load)).toBe('v2');
    expect(await cache.read('k', row.load)).toBe('v2');
    state.remote++;
    expect(await cache.read('k', row.load)).toBe('v3');
    expect(row.calls()).toBe(3);
  });

  it('does not keep a value read while something was committed', async () => {
    const { state, counters } = fakeCounters();
    const cache = createReadCache(counters);
    let calls = 0;
    const racing = async () => {
      calls++;
      // Another request commits while this one reads.
      if (calls === 1) state.local++;
      return `v${calls}`;
    };
    expect(await cache.read('k', racing)).toBe('v1');
    expect(await cache.read('k', racing)).toBe('v2');
    expect(await cache.read('k', racing)).toBe('v2');
    expect(calls).toBe(2);
  });

  it('looks for other processes’ commits once per request, and for its own before every read', async () => {
    const { state, counters } = fakeCounters();
    const cache = createReadCache(counters);
    const a = loader(['a1', 'a2']);
    const b = loader(['b1', 'b2']);
    await cache.read('a', a.load);
    await cache.read('b', b.load);
    const before = state.remoteReads;
    const request = cache.forRequest();
    expect(await request.read('a', a.load)).toBe('a1');
    expect(await request.read('b', b.load)).toBe('b1');
    expect(state.remoteReads - before).toBe(1);
    // Its own commit in the middle of the request is seen at once.
    state.local++;
    expect(await request.read('a', a.load)).toBe('a2');
    // Another process's commit is seen by the next request.
    state.remote++;
    expect(await cache.forRequest().read('b', b.load)).toBe('b2');
  });

  it('says without waiting what read would answer from memory, after the same change check', async () => {
    const { state, counters } = fakeCounters();
    const cache = createReadCache(counters);
    const row = loader(['v1', 'v2']);
    expect(cache.forRequest().cached('k')).toBe(NOT_CACHED);
    await cache.read('k', row.load);
    const missing = loader([undefined as unknown as string]);
    await cache.read('gone', missing.load);
    const request = cache.forRequest();
    expect(request.cached('k')).toBe('v1');
    // A row that does not exist is remembered as such.
    expect(request.cached('gone')).toBeUndefined();
    state.remote++;
    expect(cache.forRequest().cached('k')).toBe(NOT_CACHED);
    expect(await cache.read('k', row.load)).toBe('v2');
    state.local++;
    expect(cache.cached('k')).toBe(NOT_CACHED);
  });

  it('stays bounded', async () => {
    const { counters } = fakeCounters();
    const cache = createReadCache(counters, 3);
    let loads = 0;
    const load = () => Promise.resolve(++loads);
    for (const key of ['a', 'b', 'c', 'd']) await cache.read(key, load);
    // The fourth key emptied the full cache, so the first is read again.
    await cache.read('a', load);
    expect(loads).toBe(5);
  });

  it('reads through when the database cannot say cheaply whether it changed', async () => {
    const cache = createReadCache(undefined);
    const row = loader(['v1', 'v2']);
    expect(await cache.read('k', row.load)).toBe('v1');
    expect(await cache.forRequest().read('k', row.load)).toBe('v2');
  });

  it('keeps what a request worked out only when nothing was committed since its first read', async () => {
    const { state, counters } = fakeCounters();
    const cache = createReadCache(counters);
    const row = loader(['v1']);

    const quiet = cache.forRequest();
    await quiet.read('row', row.load);
    expect(quiet.keep('answer', 'a1')).toBe(true);
    expect(cache.cached('answer')).toBe('a1');

    const raced = cache.forRequest();
    await raced.read('row', row.load);
    state.local++; // this process commits while the request works
    raced.keep('answer', 'a2');
    expect(cache.cached('answer')).toBe(NOT_CACHED);

    const elsewhere = cache.forRequest();
    await elsewhere.read('row', row.load);
    state.remote++; // another process commits
    elsewhere.keep('answer', 'a3');
    expect(cache.cached('answer')).toBe(NOT_CACHED);

    // Nor when another request has seen a commit since this one first read.
    const late = cache.forRequest();
    await late.read('row', row.load);
    state.local++;
    await cache.forRequest().read('row', row.load);
    expect(late.keep('answer', 'a6')).toBe(false);
    expect(cache.cached('answer')).toBe(NOT_CACHED);

    // A request that read nothing has no state to keep anything as of.
    expect(cache.forRequest().keep('answer', 'a4')).toBe(false);
    expect(cache.keep('answer', 'a5')).toBe(false);
  });

  it('keeps what was read from the directory through a new picture, and drops what was read from both', async () => {
    const { state, counters } = topicCounters();
    const cache = createReadCache(counters);
    const token = loader(['t1', 't2', 't3']);
    const picture = loader(['p1', 'p2', 'p3']);
    const rendition = loader(['r1', 'r2']);
    const readAll = async () => {
      const request = cache.forRequest();
      return [
        await request.read('token', token.load, FROM_DIRECTORY),
        await request.read('picture', picture.load),
        await request.read('rendition', rendition.load, FROM_PICTURES),
      ];
    };
    expect(await readAll()).toEqual(['t1', 'p1', 'r1']);
    // This process switches a picture: the token stays, the rest is read again.
    state.local[1]!++;
    expect(await readAll()).toEqual(['t1', 'p2', 'r2']);
    // Another instance disables a user: what was read from the directory goes, the rendition stays.
    state.remote[0]!++;
    expect(await readAll()).toEqual(['t2', 'p3', 'r2']);
    expect([token.calls(), picture.calls(), rendition.calls()]).toEqual([2, 3, 2]);
  });

  it('keeps what was read from the directory and the pictures through a sync’s record, and its inputs not', async () => {
    const { state, counters } = topicCounters();
    const cache = createReadCache(counters);
    const picture = loader(['p1', 'p2']);
    const inputs = loader(['i1', 'i2']);
    const readBoth = async () => [
      await cache.read('picture', picture.load, FROM_DIRECTORY | FROM_PICTURES),
      await cache.read('inputs', inputs.load, FROM_DIRECTORY | FROM_SYNC_INPUTS),
    ];
    expect(await readBoth()).toEqual(['p1', 'i1']);
    state.local[2]!++;
    expect(await readBoth()).toEqual(['p1', 'i2']);
    state.remote[2]!++;
    expect(await cache.read('picture', picture.load, FROM_DIRECTORY | FROM_PICTURES)).toBe('p1');
    // What does not say what it was read from is read from everything.
    const unsaid = loader(['u1', 'u2']);
    expect(await cache.read('unsaid', unsaid.load)).toBe('u1');
    state.remote[2]!++;
    expect(await cache.read('unsaid', unsaid.load)).toBe('u2');
  });

  it('keeps an answer through a commit to rows it was not read from', async () => {
    const { state, counters } = topicCounters();
    const cache = createReadCache(counters);
    const row = loader(['v1']);
    const request = cache.forRequest();
    await request.read('row', row.load, FROM_DIRECTORY);
    state.local[1]!++;
    expect(request.keep('session answer', 'a1', FROM_DIRECTORY)).toBe(true);
    expect(request.keep('picture answer', 'a2')).toBe(false);
    expect(cache.cached('session answer')).toBe('a1');
    expect(cache.cached('picture answer')).toBe(NOT_CACHED);
  });

  it('leaves a row a later request kept to the requests after it, when an earlier one asks', async () => {
    const { state, counters } = topicCounters();
    const cache = createReadCache(counters);
    const row = loader(['v1', 'v2', 'v3']);
    const early = cache.forRequest();
    await early.read('other', () => Promise.resolve('o'));
    // Another instance commits; a request that arrives after it reads and keeps the row.
    state.remote[0]!++;
    expect(await cache.forRequest().read('row', row.load)).toBe('v1');
    // The earlier request may not take it (its view is older) and reads for itself, keeping nothing...
    expect(await early.read('row', row.load)).toBe('v2');
    // ...and the row kept for the later requests is still there for them.
    expect(await cache.forRequest().read('row', row.load)).toBe('v1');
    expect(row.calls()).toBe(2);
  });
});
