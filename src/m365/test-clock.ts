// Shared by the m365 *.test.ts files only; nothing in the app imports this.
import { setImmediate as yieldToIo } from 'node:timers/promises';
import type { Clock } from './clock.js';

export interface VirtualClock extends Clock {
  /** Every sleep asked for, in milliseconds, in the order asked. */
  sleeps: number[];
  /** Runs `work`, moving time forward whenever every task waits on a sleep. */
  run<T>(work: () => Promise<T>): Promise<T>;
}

/** A clock whose time moves only when everything is waiting: hours of back-off take no real time. */
export function createVirtualClock(start = Date.parse('2026-11-30T07:00:00Z')): VirtualClock {
  let now = start;
  const timers: { at: number; seq: number; wake: () => void }[] = [];
  let seq = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep(ms) {
      sleeps.push(ms);
      return new Promise((wake) => timers.push({ at: now + Math.max(0, ms), seq: seq++, wake }));
    },
    async run(work) {
      let settled = false;
      const result = work().finally(() => {
        settled = true;
      });
      result.catch(() => undefined);
      while (!settled) {
        // Let every task run until it settles or waits on the clock (a few I/O turns for safety).
        for (let i = 0; i < 5; i += 1) await yieldToIo();
        if (settled) break;
        timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
        const next = timers.shift();
        if (!next) throw new Error('Deadlock: the work waits on something other than the clock.');
        now = Math.max(now, next.at);
        next.wake();
      }
      return result;
    },
  };
}
