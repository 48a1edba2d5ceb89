// Image work of its own: decodes and encodes run on libuv's thread pool, which argon2 (sign-in),
// file reads and zlib share. Left alone, four slow decodes take all four threads and everyone
// else waits behind them. This queue lets at most `concurrency` jobs run at once (below the pool's
// size, so those threads stay free), keeps the waiting line short, and gives each job a deadline.
// No sharp here: the scheduling is plain code, tested with plain promises.

export interface ImageQueueLimits {
  /** Jobs running at once; 0 means no queue at all (every job starts at once, as without it). */
  concurrency: number;
  /** Refusable jobs allowed to wait; the next one is refused with ImageQueueFullError. */
  maxWaiting: number;
  /** Estimated memory of the heavy jobs running together; one heavy job may always run alone. */
  memoryBytes: number;
  /** Seconds a job may run (waiting not counted); then its caller gets ImageDeadlineError. */
  deadlineSeconds: number;
}

// Below libuv's default of 4 threads, leaving two for argon2, file reads and the rest (a job whose
// encodes could run two at once borrows a free slot for that, never a thread beyond these); a laptop's memory; a deadline far above the ~3 s the slowest accepted image takes on one core (BENCHMARKS.md).
export const DEFAULT_QUEUE_LIMITS: ImageQueueLimits = {
  concurrency: 2,
  maxWaiting: 32,
  memoryBytes: 512 * 1024 * 1024,
  deadlineSeconds: 15,
};

export interface ImageJob {
  /**
   * Light jobs (renders of our own small masters, small uploads) go ahead of heavy ones, and
   * heavy ones may use all slots but one: a light job never waits behind a large decode.
   */
  light: boolean;
  /** Estimated peak memory while it runs, counted against memoryBytes for heavy jobs. */
  bytes: number;
  /** Untrusted uploads are refused when the line is full; our own renders always wait their turn. */
  refusable: boolean;
}

/**
 * libvips' own deadline for work under a queue deadline of `seconds`: sharp takes whole seconds
 * only, so a fraction is rounded up (the caller is answered at the queue's deadline all the same;
 * the work stops by this one).
 */
export const libvipsTimeout = (seconds: number) => ({ seconds: Math.max(1, Math.ceil(seconds)) });

export class ImageQueueFullError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('Too many images are waiting to be processed.');
    this.name = 'ImageQueueFullError';
  }
}

export class ImageDeadlineError extends Error {
  constructor(readonly seconds: number) {
    super(`The image work took longer than ${seconds} seconds.`);
    this.name = 'ImageDeadlineError';
  }
}

export interface ImageQueueLoad {
  running: number;
  waiting: number;
  /** Estimated bytes of the heavy jobs running. */
  heavyBytes: number;
}

interface Waiter {
  job: ImageJob;
  begin: () => void;
}

export interface ImageQueue {
  /** Runs `work` when its turn comes; rejects with ImageQueueFullError or ImageDeadlineError. */
  run<T>(job: ImageJob, work: () => Promise<T>): Promise<T>;
  /**
   * A second thread for work a running job can do beside its own (a render's encodes): taken when a
   * slot is free and no job waits for one, and counted as a running job until its release is
   * called, so the queue never has more than `concurrency` threads. Undefined when there is none:
   * the job goes on in turn.
   */
  borrow(): (() => void) | undefined;
  setLimits(limits: ImageQueueLimits): void;
  limits(): ImageQueueLimits;
  load(): ImageQueueLoad;
}

/** Told when a job starts (after how long in line) and when its work has really ended. */
export interface ImageQueueObserver {
  started(job: ImageJob, waitedSeconds: number): void;
  finished(job: ImageJob, seconds: number): void;
}

export function createImageQueue(
  initial: ImageQueueLimits = DEFAULT_QUEUE_LIMITS,
  observer: ImageQueueObserver = { started: () => {}, finished: () => {} },
): ImageQueue {
  let limits = checkLimits(initial);
  const lightLine: Waiter[] = [];
  const heavyLine: Waiter[] = [];
  let running = 0;
  let heavyRunning = 0;
  let heavyBytes = 0;
  let refusableWaiting = 0;
  // A running mean of how long a job takes, for the Retry-After of a refusal.
  let meanJobSeconds = 1;

  const heavySlots = () => Math.max(1, limits.concurrency - 1);

  function mayStart(job: ImageJob): boolean {
    if (limits.concurrency === 0) return true;
    if (running >= limits.concurrency) return false;
    if (job.light) return true;
    if (heavyRunning >= heavySlots()) return false;
    return heavyRunning === 0 || heavyBytes + job.bytes <= limits.memoryBytes;
  }

  function begin(job: ImageJob): void {
    running += 1;
    if (!job.light) {
      heavyRunning += 1;
      heavyBytes += job.bytes;
    }
  }

  function end(job: ImageJob, seconds: number): void {
    running -= 1;
    if (!job.light) {
      heavyRunning -= 1;
      heavyBytes -= job.bytes;
    }
    meanJobSeconds = meanJobSeconds * 0.8 + seconds * 0.2;
    startWaiting();
    observer.finished(job, seconds);
  }

  /** Light jobs first, each line in arrival order; a heavy job at the head is never overtaken by heavier ones. */
  function startWaiting(): void {
    for (;;) {
      let line: Waiter[] | undefined;
      if (lightLine[0] && mayStart(lightLine[0].job)) line = lightLine;
      else if (heavyLine[0] && mayStart(heavyLine[0].job)) line = heavyLine;
      if (!line) return;
      const waiter = line.shift()!;
      if (waiter.job.refusable) refusableWaiting -= 1;
      begin(waiter.job);
      waiter.begin();
    }
  }

  function retryAfterSeconds(): number {
    const perSlot = (meanJobSeconds * (refusableWaiting + 1)) / Math.max(1, limits.concurrency);
    return Math.min(60, Math.max(1, Math.ceil(perSlot)));
  }

  async function waitForTurn(job: ImageJob): Promise<number> {
    const line = job.light ? lightLine : heavyLine;
    const queuedAhead = job.light ? lightLine.length > 0 : lightLine.length + heavyLine.length > 0;
    if (!queuedAhead && mayStart(job)) {
      begin(job);
      return 0;
    }
    if (job.refusable && refusableWaiting >= limits.maxWaiting) throw new ImageQueueFullError(retryAfterSeconds());
    if (job.refusable) refusableWaiting += 1;
    const queuedAt = performance.now();
    await new Promise<void>((resolve) => line.push({ job, begin: resolve }));
    return (performance.now() - queuedAt) / 1000;
  }

  return {
    async run(job, work) {
      const waited = await waitForTurn(job);
      observer.started(job, waited);
      const started = performance.now();
      const task = Promise.resolve().then(work);
      // The slot is given back when the work really ends, not at the deadline: a decode that
      // overran still holds its thread until libvips stops it, and the count must say so.
      const release = () => end(job, (performance.now() - started) / 1000);
      task.then(release, release);
      return withDeadline(task, limits.deadlineSeconds);
    },
    borrow() {
      if (limits.concurrency === 0) return () => {};
      if (running >= limits.concurrency || lightLine.length + heavyLine.length > 0) return undefined;
      running += 1;
      let returned = false;
      return () => {
        if (returned) return;
        returned = true;
        running -= 1;
        startWaiting();
      };
    },
    setLimits(next) {
      limits = checkLimits(next);
      startWaiting();
    },
    limits: () => limits,
    load: () => ({ running, waiting: lightLine.length + heavyLine.length, heavyBytes }),
  };
}

function withDeadline<T>(task: Promise<T>, seconds: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new ImageDeadlineError(seconds)), seconds * 1000);
    task.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function checkLimits(limits: ImageQueueLimits): ImageQueueLimits {
  const rules: Array<[keyof ImageQueueLimits, number]> = [
    ['concurrency', 0],
    ['maxWaiting', 0],
    ['memoryBytes', 1],
  ];
  for (const [name, min] of rules) {
    const value = limits[name];
    if (!Number.isSafeInteger(value) || value < min) {
      throw new RangeError(`${name} must be an integer of at least ${min}, got ${value}`);
    }
  }
  // Seconds may have a fraction; a tenth of a second is the least.
  if (!Number.isFinite(limits.deadlineSeconds) || limits.deadlineSeconds < 0.1) {
    throw new RangeError(`deadlineSeconds must be a number of at least 0.1, got ${limits.deadlineSeconds}`);
  }
  return { ...limits };
}
