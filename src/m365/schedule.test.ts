import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { conflict } from '../errors.js';
import type { ScanReport } from './scan.js';
import { scheduleScans } from './schedule.js';

// The schedule's timers are handed in, so each test decides when time passes.
function manualTimers() {
  const waiting: { run: () => void; ms: number; unref: () => void }[] = [];
  return {
    waiting,
    setTimer: (run: () => void, ms: number) => {
      const timer = { run, ms, unref: () => {} };
      waiting.push(timer);
      return timer;
    },
    clearTimer: (timer: unknown) => {
      const at = waiting.indexOf(timer as (typeof waiting)[number]);
      if (at >= 0) waiting.splice(at, 1);
    },
    /** Lets the next timer fire, as if its time had come. */
    fire() {
      const next = waiting.shift();
      if (!next) throw new Error('no timer is waiting');
      next.run();
    },
  };
}

const report = { scan: { id: 1 }, summary: {}, graphRequests: 0 } as unknown as ScanReport;
const settle = () => new Promise((resolve) => setImmediate(resolve));
const log = pino({ level: 'silent' });

describe('scheduleScans', () => {
  it('scans once per interval, timing the next from the end of the last', async () => {
    const timers = manualTimers();
    let finish: (() => void) | undefined;
    let scans = 0;
    const schedule = scheduleScans({
      everyMs: 6 * 3_600_000,
      scan: () => {
        scans += 1;
        return new Promise<ScanReport>((resolve) => (finish = () => resolve(report)));
      },
      log,
      ...timers,
    });
    expect(scans).toBe(0);
    expect(timers.waiting.map((t) => t.ms)).toEqual([6 * 3_600_000]);
    timers.fire();
    expect(scans).toBe(1);
    // While the scan runs, nothing else is planned: a slow scan never piles up behind itself.
    expect(timers.waiting).toHaveLength(0);
    finish!();
    await settle();
    expect(timers.waiting.map((t) => t.ms)).toEqual([6 * 3_600_000]);
    await schedule.stop();
    expect(timers.waiting).toHaveLength(0);
  });

  it('keeps going after a failed scan and when another process holds the scan', async () => {
    const timers = manualTimers();
    const outcomes = [
      () => Promise.reject(new Error('tenant unreachable')),
      () => Promise.reject(conflict('Another process is scanning the tenant.', 'm365_scan_busy')),
      () => Promise.resolve(report),
    ];
    let scans = 0;
    const schedule = scheduleScans({ everyMs: 900_000, scan: () => outcomes[scans++]!(), log, ...timers });
    for (let i = 0; i < 3; i += 1) {
      timers.fire();
      await settle();
    }
    expect(scans).toBe(3);
    expect(timers.waiting).toHaveLength(1);
    await schedule.stop();
  });

  it('waits for a running scan when stopped, and plans no other', async () => {
    const timers = manualTimers();
    let finish: (() => void) | undefined;
    const schedule = scheduleScans({
      everyMs: 900_000,
      scan: () => new Promise<ScanReport>((resolve) => (finish = () => resolve(report))),
      log,
      ...timers,
    });
    timers.fire();
    let stopped = false;
    const stopping = schedule.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false);
    finish!();
    await stopping;
    expect(timers.waiting).toHaveLength(0);
  });
});
