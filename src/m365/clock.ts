import { setTimeout as sleep } from 'node:timers/promises';

/** Time as the connect-mode code sees it: passed in, so tests can run hours of back-off in no time. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = { now: () => Date.now(), sleep: (ms) => sleep(ms) };
