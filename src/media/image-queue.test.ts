// The queue's rules with plain promises standing in for decodes: each job below runs until the
// test finishes it, so what runs at once and in which order is observed, never timed.
import { describe, expect, it } from 'vitest';
import {
  createImageQueue,
  ImageDeadlineError,
  ImageQueueFullError,
  type ImageJob,
  type ImageQueueLimits,
} from './image-queue.js';

const MB = 1024 * 1024;
const LIMITS: ImageQueueLimits = { concurrency: 2, maxWaiting: 4, memoryBytes: 512 * MB, deadlineSeconds: 60 };
const LIGHT: ImageJob = { light: true, bytes: 16 * MB, refusable: true };
const HEAVY: ImageJob = { light: false, bytes: 200 * MB, refusable: true };
const RENDER: ImageJob = { light: true, bytes: 16 * MB, refusable: false };

/** A queue whose jobs are held until finished by name; `started` lists them in the order they began. */
function harness(limits: Partial<ImageQueueLimits> = {}) {
  const queue = createImageQueue({ ...LIMITS, ...limits });
  const started: string[] = [];
  const finishers = new Map<string, () => void>();
  const outcomes = new Map<string, string>();
  const submit = (name: string, job: ImageJob) => {
    const done = queue
      .run(job, () => {
        started.push(name);
        return new Promise<string>((resolve) => finishers.set(name, () => resolve(name)));
      })
      .then(
        () => outcomes.set(name, 'done'),
        (error: unknown) => outcomes.set(name, error instanceof Error ? error.name : String(error)),
      );
    return done;
  };
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  const finish = async (name: string) => {
    finishers.get(name)!();
    await settle();
  };
  return { queue, started, outcomes, submit, finish, settle };
}

describe('the image queue', () => {
  it('runs at most `concurrency` jobs at once and starts the next as one ends', async () => {
    const q = harness({ concurrency: 3 });
    for (const name of ['a', 'b', 'c', 'd', 'e']) void q.submit(name, LIGHT);
    await q.settle();
    expect(q.started).toEqual(['a', 'b', 'c']);
    expect(q.queue.load()).toMatchObject({ running: 3, waiting: 2 });
    await q.finish('b');
    expect(q.started).toEqual(['a', 'b', 'c', 'd']);
    for (const name of ['a', 'c', 'd']) await q.finish(name);
    await q.finish('e');
    expect(q.started).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(q.queue.load()).toEqual({ running: 0, waiting: 0, heavyBytes: 0 });
  });

  it('keeps one slot from heavy jobs, so light work never waits behind large decodes', async () => {
    const q = harness();
    for (const name of ['heavy1', 'heavy2', 'heavy3']) void q.submit(name, HEAVY);
    await q.settle();
    expect(q.started).toEqual(['heavy1']);
    void q.submit('render', RENDER);
    void q.submit('small upload', LIGHT);
    await q.settle();
    expect(q.started).toEqual(['heavy1', 'render']);
    // Light work waiting goes before heavy work that waited longer.
    await q.finish('heavy1');
    expect(q.started).toEqual(['heavy1', 'render', 'small upload']);
    await q.finish('render');
    expect(q.started).toEqual(['heavy1', 'render', 'small upload', 'heavy2']);
  });

  it('lets heavy jobs run together only within the memory budget, and one alone whatever it needs', async () => {
    const q = harness({ concurrency: 4, memoryBytes: 300 * MB });
    void q.submit('200 MB', HEAVY);
    void q.submit('another 200 MB', HEAVY);
    void q.submit('600 MB', { ...HEAVY, bytes: 600 * MB });
    await q.settle();
    expect(q.started).toEqual(['200 MB']);
    expect(q.queue.load().heavyBytes).toBe(200 * MB);
    await q.finish('200 MB');
    expect(q.started).toEqual(['200 MB', 'another 200 MB']);
    await q.finish('another 200 MB');
    expect(q.started).toEqual(['200 MB', 'another 200 MB', '600 MB']);
  });

  it('refuses uploads past the waiting limit with a Retry-After, while our own renders still wait', async () => {
    const q = harness({ maxWaiting: 2 });
    const all = ['a', 'b', 'c', 'd'].map((name) => q.submit(name, LIGHT));
    const overflow = q.submit('refused', LIGHT);
    const render = q.submit('render', RENDER);
    await overflow;
    expect(q.outcomes.get('refused')).toBe('ImageQueueFullError');
    await expect(q.queue.run(LIGHT, async () => 'x')).rejects.toSatisfy(
      (error) => error instanceof ImageQueueFullError && error.retryAfterSeconds >= 1,
    );
    for (const name of ['a', 'b', 'c', 'd', 'render']) await q.finish(name);
    await Promise.all([...all, render]);
    expect(q.started).toEqual(['a', 'b', 'c', 'd', 'render']);
    expect([...q.outcomes.values()].filter((o) => o === 'done')).toHaveLength(5);
  });

  it('answers past the deadline, but holds the slot until the work really ends', async () => {
    const q = harness({ concurrency: 1, deadlineSeconds: 1 });
    const slow = q.submit('slow', HEAVY);
    void q.submit('next', LIGHT);
    await slow;
    expect(q.outcomes.get('slow')).toBe('ImageDeadlineError');
    expect(q.started).toEqual(['slow']);
    expect(q.queue.load()).toMatchObject({ running: 1, waiting: 1 });
    await q.finish('slow');
    expect(q.started).toEqual(['slow', 'next']);
    await expect(
      createImageQueue({ ...LIMITS, deadlineSeconds: 1 }).run(LIGHT, () => new Promise(() => {})),
    ).rejects.toBeInstanceOf(ImageDeadlineError);
  });

  it('passes on a failure of the work and frees its slot', async () => {
    const queue = createImageQueue({ ...LIMITS, concurrency: 1 });
    await expect(queue.run(LIGHT, () => Promise.reject(new Error('corrupt')))).rejects.toThrow('corrupt');
    await expect(queue.run(LIGHT, async () => 'next')).resolves.toBe('next');
  });

  it('with concurrency 0 runs everything at once, as if there were no queue', async () => {
    const q = harness({ concurrency: 0, maxWaiting: 0 });
    for (const name of ['a', 'b', 'c', 'd', 'e']) void q.submit(name, HEAVY);
    await q.settle();
    expect(q.started).toHaveLength(5);
  });

  it('lends a free slot to a running job, never past `concurrency` nor ahead of a job waiting', async () => {
    const q = harness();
    void q.submit('render', RENDER);
    await q.settle();
    const second = q.queue.borrow();
    expect(second).toBeDefined();
    expect(q.queue.load()).toMatchObject({ running: 2, waiting: 0 });
    // The slot is taken: the next job waits, and no further slot is lent while it does.
    void q.submit('upload', LIGHT);
    await q.settle();
    expect(q.started).toEqual(['render']);
    expect(q.queue.borrow()).toBeUndefined();
    // Given back (once, however often it is called), the slot goes to the job waiting.
    second!();
    second!();
    await q.settle();
    expect(q.started).toEqual(['render', 'upload']);
    expect(q.queue.load()).toMatchObject({ running: 2, waiting: 0 });
    expect(q.queue.borrow()).toBeUndefined();
    await q.finish('render');
    await q.finish('upload');
    expect(q.queue.load()).toEqual({ running: 0, waiting: 0, heavyBytes: 0 });
    // With concurrency 0 (no queue) every job may take a second thread.
    const free = harness({ concurrency: 0 });
    expect(free.queue.borrow()).toBeDefined();
  });

  it('applies new limits to the jobs waiting', async () => {
    const q = harness({ concurrency: 1 });
    for (const name of ['a', 'b', 'c']) void q.submit(name, LIGHT);
    await q.settle();
    expect(q.started).toEqual(['a']);
    q.queue.setLimits({ ...LIMITS, concurrency: 3 });
    await q.settle();
    expect(q.started).toEqual(['a', 'b', 'c']);
  });

  it.each([{ concurrency: -1 }, { maxWaiting: 1.5 }, { memoryBytes: 0 }, { deadlineSeconds: 0 }])(
    'refuses the limits %o',
    (bad) => {
      expect(() => createImageQueue({ ...LIMITS, ...bad })).toThrow(RangeError);
    },
  );
});
