import { isAppError } from '../errors.js';
import { ConfigError } from '../config.js';
import { describeStorageFault, storageFaultAdvice } from '../storage/faults.js';

/** The exit code of a sync that found the user busy (another sync of them running): sysexits' EX_TEMPFAIL, try again. */
export const EXIT_BUSY = 75;
/** The exit code of a scan that could not read every user: EX_TEMPFAIL as well, since the next scan reads them again. */
export const EXIT_INCOMPLETE = 75;

/** A mistake the user can fix: printed as one line, exit code 1 (2 for usage). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * A usage mistake in a command's words (exit 2): the dispatcher adds the command's usage from the
 * registry, so a command never writes its own (which could disagree with --help).
 */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}

/** "1 user", "2 users": a count with its noun, in the one or the many. */
export function counted(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function explain(error: unknown): { message: string; exitCode: number } {
  if (error instanceof CliError) return { message: error.message, exitCode: error.exitCode };
  if (error instanceof ConfigError) return { message: error.message, exitCode: 1 };
  if (isAppError(error)) return { message: error.message, exitCode: 1 };
  // The disk, not photosync: what happened and what to do, without a stack.
  const fault = describeStorageFault(error);
  if (fault) {
    return {
      message: `${fault[0]!.toUpperCase()}${fault.slice(1)}. ${storageFaultAdvice(error) ?? ''}`.trim(),
      exitCode: 1,
    };
  }
  // SQLite's other refusals (a disk I/O error, a file it cannot open) are the disk's too.
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && code.startsWith('SQLITE_') && error instanceof Error) {
    return {
      message:
        `The database refused: ${error.message} (${code}). Check the disk that holds the data folder: ` +
        'free space, a read-only mount, and that the user photosync runs as may write there.',
      exitCode: 1,
    };
  }
  // Anything else is a bug in photosync: keep the stack, it is what a bug report needs.
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return {
    message: `Unexpected error (a bug in photosync; please report it with this text): ${message}`,
    exitCode: 70,
  };
}

/** A sentence for a file that could not be read, from the error fs gave. */
export function fileProblem(file: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  if (code === 'ENOENT' || code === 'ENOTDIR') return `There is no file ${file}.`;
  if (code === 'EISDIR') return `${file} is a folder, not a file.`;
  if (code === 'EACCES' || code === 'EPERM') return `Cannot read ${file}: permission denied.`;
  return `Cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`;
}

export function formatTime(ms: number | null): string {
  return ms === null
    ? '-'
    : new Date(ms)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
}

/** Plain text table with columns padded to the widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
