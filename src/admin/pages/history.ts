import type { HistoryEntry } from '../../sync/history.js';

// The sync history as the console shows it: a run of the same quiet result (a picture viewed again
// and again, each time already up to date) is one line with a count, not a page of repeats.

const FOLDED = new Set<HistoryEntry['outcome']>(['unchanged', 'recently_checked']);

export interface HistoryLine {
  /** The newest attempt of the run. */
  attempt: HistoryEntry;
  count: number;
  /** When the oldest attempt of the run started. */
  firstAt: number;
}

/** Newest first in, newest first out; only neighbours with the same trigger and outcome fold. */
export function foldHistory(attempts: HistoryEntry[]): HistoryLine[] {
  const lines: HistoryLine[] = [];
  for (const attempt of attempts) {
    const last = lines.at(-1);
    if (
      last &&
      FOLDED.has(attempt.outcome) &&
      last.attempt.outcome === attempt.outcome &&
      last.attempt.trigger === attempt.trigger &&
      attempt.error === null
    ) {
      last.count++;
      last.firstAt = attempt.startedAt;
      continue;
    }
    lines.push({ attempt, count: 1, firstAt: attempt.startedAt });
  }
  return lines;
}
