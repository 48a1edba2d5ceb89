import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { conflict } from '../errors.js';
import type { ScanReport } from './scan.js';
import { scheduleScans } from './schedule.js';

// The schedule's timers and clock are handed in, so each test decides when time passes.
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
const HOUR = 3_600_000;

describe('scheduleScans', () => {
  it('scans when the setting is on and the last scan ended an interval ago, never while it is off', async () => {
    const timers = manualTimers();
    let now = 10 * HOUR;
    let every: number | undefined;
    let ended: number | undefined = 9 * HOUR;
    let scans = 0;
    const schedule = scheduleScans({
      everyMs: () => every,
      lastScanEnded: () => Promise.resolve(ended),
      scan: () => {
        scans += 1;
        ended = now;
        return Promise.resolve(report);
      },
      now: () => now,
      pollMs: 60_000,
      log,
      ...timers,
    });
    const look = async () => {
      timers.fire();
      await settle();
    };
    expect(timers.waiting.map((t) => t.ms)).toEqual([60_000]);
    await look();
    expect(scans).toBe(0); // off (the default)
    every = 6 * HOUR;
    await look();
    expect(scans).toBe(0); // the last scan ended one hour ago
    now = 15 * HOUR;
    await look();
    expect(scans).toBe(1);
    await look();
    expect(scans).toBe(1); // timed from the end of that scan
    every = HOUR; // the admin shortens the interval: it counts at the next look
    now = 16 * HOUR;
    await look();
    expect(scans).toBe(2);
    every = undefined;
    now = 30 * HOUR;
    await look();
    expect(scans).toBe(2);
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
    const schedule = scheduleScans({
      everyMs: () => 900_000,
      lastScanEnded: () => Promise.resolve(undefined),
      scan: () => outcomes[scans++]!(),
      log,
      ...timers,
    });
    for (let i = 0; i < 3; i += 1) {
      timers.fire();
      await settle();
    }
    expect(scans).toBe(3);
    expect(timers.waiting).toHaveLength(1);
    await schedule.stop();
  });

  it('plans nothing while a scan runs, tells it to stop and waits for it when stopped, and plans no other', async () => {
    const timers = manualTimers();
    let finish: (() => void) | undefined;
    let signal: AbortSignal | undefined;
    const schedule = scheduleScans({
      everyMs: () => 900_000,
      lastScanEnded: () => Promise.resolve(undefined),
      scan: (given) => {
        signal = given;
        return new Promise<ScanReport>((resolve) => (finish = () => resolve(report)));
      },
      log,
      ...timers,
    });
    timers.fire();
    await settle();
    expect(finish).toBeDefined();
    // A slow scan never piles up behind itself.
    expect(timers.waiting).toHaveLength(0);
    let stopped = false;
    expect(signal?.aborted).toBe(false);
    const stopping = schedule.stop().then(() => (stopped = true));
    await settle();
    // The scan is told to stop (scanTenant then ends at its next commit), and waited for.
    expect(signal?.aborted).toBe(true);
    expect(stopped).toBe(false);
    finish!();
    await stopping;
    expect(timers.waiting).toHaveLength(0);
  });
});
