import type { CliWriter } from './command.js';

/**
 * The share done, rounded to the nearest per cent (1 of 4 is 25%, 2 of 3 is 67%), but never 0%
 * once something is done nor 100% before everything is.
 */
export function percent(done: number, total: number): number {
  if (total === 0 || done >= total) return 100;
  if (done <= 0) return 0;
  return Math.min(99, Math.max(1, Math.round((done / total) * 100)));
}

/** A one-line progress bar on a terminal; on a pipe or file, a line each time a tenth of the way is passed. */
export function createProgress(total: number, label: string, stream: CliWriter) {
  const width = 30;
  let lastTenth = -1;
  let lastDraw = 0;
  return {
    update(done: number): void {
      const ratio = total === 0 ? 1 : Math.min(1, done / total);
      if (stream.isTTY) {
        const now = Date.now();
        if (now - lastDraw < 50 && done < total) return;
        lastDraw = now;
        const filled = Math.round(ratio * width);
        stream.write(
          `\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${percent(done, total)}% ${done}/${total}`,
        );
      } else {
        const tenth = Math.floor(ratio * 10);
        if (tenth > lastTenth) {
          lastTenth = tenth;
          stream.write(`${label} ${percent(done, total)}% (${done}/${total})\n`);
        }
      }
    },
    finish(): void {
      if (stream.isTTY) stream.write('\n');
    },
  };
}
