import { describe, expect, it } from 'vitest';
import { noteThrottle, type Throttled } from './connection.js';

describe('noteThrottle', () => {
  it('counts every wait, and the time kept waiting once where waits overlap', () => {
    const throttled: Throttled = { count: 0, totalMs: 0, until: 0 };
    // Seven requests of one batch round told to wait 20 s at (nearly) the same moment: 20 s, not 140.
    for (let i = 0; i < 7; i++) noteThrottle(throttled, 20_000, 1_000 + i * 10);
    expect(throttled).toMatchObject({ count: 7, totalMs: 20_060 });
    // A wait that starts before the last ends adds only what reaches past it.
    noteThrottle(throttled, 10_000, 15_000);
    expect(throttled.totalMs).toBe(24_000);
    // One after a gap adds all of itself.
    noteThrottle(throttled, 5_000, 60_000);
    expect(throttled).toMatchObject({ count: 9, totalMs: 29_000, until: 65_000 });
  });

  it('tells of a wait that keeps photosync waiting 5 s or more longer, once per such wait', () => {
    const told: number[] = [];
    const throttled: Throttled = { count: 0, totalMs: 0, until: 0, onLongWait: (ms) => told.push(ms) };
    noteThrottle(throttled, 20_000, 0);
    noteThrottle(throttled, 20_000, 10); // overlaps: 10 ms longer
    noteThrottle(throttled, 2_000, 30_000); // short
    noteThrottle(throttled, 60_000, 40_000);
    expect(told).toEqual([20_000, 60_000]);
  });
});
