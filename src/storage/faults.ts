import os from 'node:os';

// What the storage below photosync says when it cannot keep what it is given: the disk is full,
// the file system is read-only (or photosync's user may not write there), the database file is
// damaged, another process holds SQLite's write lock, or PostgreSQL cannot be reached. SQLite, the
// file system and PostgreSQL each name these in their own codes; this is the one place that knows
// them, so the error catalogue, the log and the start-up checks all say the real cause.

export type StorageFault = 'full' | 'read_only' | 'damaged' | 'busy' | 'unreachable';

/** The codes of each fault: SQLite's result codes, errno names, PostgreSQL's SQLSTATE. */
const FAULT_OF_CODE: Record<string, StorageFault> = {
  SQLITE_FULL: 'full',
  // The -shm file could not be grown: on a full disk, what opening the database says.
  SQLITE_IOERR_SHMSIZE: 'full',
  ENOSPC: 'full',
  EDQUOT: 'full',
  '53100': 'full', // PostgreSQL disk_full
  SQLITE_READONLY: 'read_only',
  EROFS: 'read_only',
  // A folder or file photosync's user may not write (its owner or mode): to photosync the same as read-only.
  EACCES: 'read_only',
  EPERM: 'read_only',
  '25006': 'read_only', // PostgreSQL read_only_sql_transaction (a standby, or default_transaction_read_only)
  SQLITE_CORRUPT: 'damaged',
  SQLITE_NOTADB: 'damaged',
  XX001: 'damaged', // PostgreSQL data_corrupted
  XX002: 'damaged', // PostgreSQL index_corrupted
  // Another connection held SQLite's write lock past busy_timeout (a backup, a command, a stopped server).
  SQLITE_BUSY: 'busy',
  // PostgreSQL's connection exceptions (class 08), a server shutting down or starting (57P01-03),
  // and no connection left for photosync (53300).
  '08000': 'unreachable',
  '08001': 'unreachable',
  '08003': 'unreachable',
  '08004': 'unreachable',
  '08006': 'unreachable',
  '57P01': 'unreachable',
  '57P02': 'unreachable',
  '57P03': 'unreachable',
  '53300': 'unreachable',
};

/**
 * The network's codes and node-postgres's own sentences for a connection that could not be made
 * or broke: the database's only when the error came from its driver (./database.ts marks those),
 * since a refused connection elsewhere (a mail server) is not the database's.
 */
const UNREACHABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EPIPE',
]);
const UNREACHABLE_MESSAGE =
  /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error)/;
/** The code storageFaultCode gives a driver's sentence that has none. */
const CONNECTION_LOST = 'connection lost';

const FROM_DATABASE_DRIVER = Symbol('from the database driver');

/** Marks an error thrown by the database driver (a connection or a query), for storageFaultOf. */
export function fromDatabaseDriver(error: unknown): unknown {
  if (error !== null && typeof error === 'object') (error as Record<symbol, boolean>)[FROM_DATABASE_DRIVER] = true;
  return error;
}

/** The code that names the cause (`SQLITE_FULL`, `ENOSPC`, `53100`), looking through `cause` chains. */
export function storageFaultCode(error: unknown): string | undefined {
  let driver = false;
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    // Marked where the driver threw it, which may be anywhere in the chain (a migration wraps it).
    driver ||= typeof current === 'object' && FROM_DATABASE_DRIVER in current;
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') {
      // SQLite's extended codes (SQLITE_READONLY_DBMOVED, SQLITE_CORRUPT_INDEX) belong to their primary.
      const primary = code.startsWith('SQLITE_') ? code.split('_').slice(0, 2).join('_') : code;
      if (FAULT_OF_CODE[code] ?? FAULT_OF_CODE[primary]) return code;
      if (driver && UNREACHABLE_ERRNO.has(code)) return code;
    }
    if (driver && current instanceof Error && UNREACHABLE_MESSAGE.test(current.message)) return CONNECTION_LOST;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export function storageFaultOf(error: unknown): StorageFault | undefined {
  const code = storageFaultCode(error);
  if (code === undefined) return undefined;
  if (code === CONNECTION_LOST || UNREACHABLE_ERRNO.has(code)) return 'unreachable';
  return (
    FAULT_OF_CODE[code] ?? FAULT_OF_CODE[code.startsWith('SQLITE_') ? code.split('_').slice(0, 2).join('_') : code]
  );
}

/** What a person reads: the fault in words, with the code that names it (and the file, when `withPlace`). */
export function describeStorageFault(error: unknown, withPlace = true): string | undefined {
  const fault = storageFaultOf(error);
  if (!fault) return undefined;
  const code = storageFaultCode(error) ?? '';
  const where = (error as { path?: unknown }).path;
  const at = withPlace && typeof where === 'string' ? ` at ${where}` : '';
  switch (fault) {
    case 'full':
      return `the disk is full (${code})${at}`;
    case 'read_only':
      if (code === 'EACCES' || code === 'EPERM')
        return `the user photosync runs as${osUserName()} may not write there (${code})${at}`;
      // SQLite says the same of a read-only disk and of a file its user may not write.
      if (code.startsWith('SQLITE_READONLY')) {
        return `the database cannot be written (${code}): its disk is read-only, or the user photosync runs as${osUserName()} may not write the file${at}`;
      }
      return `the storage is read-only (${code})${at}`;
    case 'damaged':
      return `the database file is damaged (${code})${at}`;
    case 'busy':
      return `another process held the database's write lock too long (${code}): a backup, a command or another server${at}`;
    case 'unreachable':
      return `the database cannot be reached (${code})`;
  }
}

/** " (name)": the operating system's user this process runs as, or nothing when it cannot be told. */
export function osUserName(): string {
  try {
    return ` (${os.userInfo().username})`;
  } catch {
    return '';
  }
}

/** What to do about a fault, for a person at the command line. */
export function storageFaultAdvice(error: unknown): string | undefined {
  const fault = storageFaultOf(error);
  const code = storageFaultCode(error);
  if (!fault) return undefined;
  if (code === 'EACCES' || code === 'EPERM') {
    return 'Give that user write access to the data folder (its owner or permissions), or run photosync as the user that owns it, and run it again.';
  }
  switch (fault) {
    case 'full':
      return 'Free some space on that disk and run it again.';
    case 'read_only':
      return code?.startsWith('SQLITE_READONLY')
        ? 'Make the disk writable, or run photosync as the user that owns the data folder, and run it again.'
        : 'Make the storage writable again and run it again.';
    case 'damaged':
      return 'Restore the database from a backup (photosync restore).';
    case 'busy':
      return 'Wait for the other process to finish with the database and run it again.';
    case 'unreachable':
      return 'Check that PostgreSQL is running and reachable at DATABASE_URL, and run it again.';
  }
}
