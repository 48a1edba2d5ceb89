import { describe, expect, it } from 'vitest';
import type { HistoryEntry } from '../../sync/history.js';
import { foldHistory } from './history.js';

const entry = (
  startedAt: number,
  outcome: HistoryEntry['outcome'],
  trigger: HistoryEntry['trigger'] = 'photo_request',
) => ({ startedAt, outcome, trigger, durationMs: 1, etagBefore: 'a', etagAfter: 'a', error: null }) as HistoryEntry;

describe('foldHistory', () => {
  it('folds a run of the same quiet result into one line with its count and its first time', () => {
    const lines = foldHistory([
      entry(50, 'unchanged'),
      entry(40, 'unchanged'),
      entry(30, 'unchanged'),
      entry(20, 'synced', 'sharepoint_tile'),
      entry(10, 'unchanged'),
    ]);
    expect(lines.map((l) => [l.attempt.startedAt, l.count, l.firstAt])).toEqual([
      [50, 3, 30],
      [20, 1, 20],
      [10, 1, 10],
    ]);
  });

  it('keeps results that matter, and other triggers, on lines of their own', () => {
    const lines = foldHistory([
      entry(40, 'synced'),
      entry(30, 'synced'),
      entry(20, 'unchanged', 'onedrive_tile'),
      entry(10, 'unchanged'),
    ]);
    expect(lines.map((l) => l.count)).toEqual([1, 1, 1, 1]);
  });
});
