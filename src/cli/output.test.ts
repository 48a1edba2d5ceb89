import { describe, expect, it } from 'vitest';
import { logSentence } from './main.js';
import { explain } from './output.js';

const withCode = (code: string, message: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), { code, ...extra });

describe('what a command says when it fails', () => {
  it('names a full disk, a read-only one or a folder its user may not write, with what to do, and no stack', () => {
    const cases: Array<[Error, string]> = [
      [
        withCode('ENOSPC', 'ENOSPC: no space left on device, write', { path: '/srv/photos/x.tmp' }),
        'The disk is full (ENOSPC) at /srv/photos/x.tmp. Free some space on that disk and run it again.',
      ],
      [withCode('SQLITE_FULL', 'database or disk is full'), 'The disk is full (SQLITE_FULL). Free some space'],
      [withCode('EROFS', 'read-only file system'), 'The storage is read-only (EROFS). Make the storage writable'],
      [
        withCode('EACCES', "EACCES: permission denied, open '/srv/photos/a'", { path: '/srv/photos/a' }),
        'may not write there (EACCES) at /srv/photos/a. Give that user write access to the data folder',
      ],
      [
        new Error('Database migration failed', { cause: withCode('SQLITE_FULL', 'database or disk is full') }),
        'The disk is full (SQLITE_FULL).',
      ],
    ];
    for (const [error, words] of cases) {
      const { message, exitCode } = explain(error);
      expect(message).toContain(words);
      expect(message).not.toContain('a bug in photosync');
      expect(message).not.toContain('    at ');
      expect(exitCode).toBe(1);
    }
  });

  it("says SQLite's other refusals are the disk's, without a stack", () => {
    const { message, exitCode } = explain(withCode('SQLITE_IOERR', 'disk I/O error'));
    expect(message).toBe(
      'The database refused: disk I/O error (SQLITE_IOERR). Check the disk that holds the data folder: free space, a read-only mount, and that the user photosync runs as may write there.',
    );
    expect(exitCode).toBe(1);
    expect(explain(withCode('SQLITE_READONLY', 'attempt to write a readonly database')).message).toContain(
      'its disk is read-only, or the user photosync runs as',
    );
  });

  it('keeps the stack of anything else, which is a bug', () => {
    const { message, exitCode } = explain(new TypeError('x is undefined'));
    expect(message).toMatch(/^Unexpected error \(a bug in photosync; please report it with this text\): TypeError/);
    expect(exitCode).toBe(70);
  });
});

describe("a command's log lines", () => {
  it('are sentences with the code, not JSON with a stack', () => {
    const line = JSON.stringify({
      level: 50,
      msg: 'Cannot save photos in /srv/photos: the disk is full (ENOSPC)',
      code: 'ENOSPC',
      err: { stack: 'Error: ENOSPC\n    at x' },
    });
    expect(logSentence(`${line}\n`)).toBe('photosync: Cannot save photos in /srv/photos: the disk is full (ENOSPC)\n');
    expect(logSentence(JSON.stringify({ level: 40, msg: 'Slow', code: 'X1' }))).toBe('photosync: warning: Slow (X1)\n');
  });
});
