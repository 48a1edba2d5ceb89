import type { CliWriter } from './command.js';

/** A one-line progress bar on a terminal; on a pipe or file, a line every tenth of the way. */
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
          `\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.round(ratio * 100)}% ${done}/${total}`,
        );
      } else {
        const tenth = Math.floor(ratio * 10);
        if (tenth > lastTenth) {
          lastTenth = tenth;
          stream.write(`${label} ${tenth * 10}% (${done}/${total})\n`);
        }
      }
    },
    finish(): void {
      if (stream.isTTY) stream.write('\n');
    },
  };
}
