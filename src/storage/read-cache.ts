/**
 * Rows read on every request (whose token or session this is, whose picture an account name
 * means), kept in memory while the database has not changed. Before each use it asks whether
 * anything was committed since the rows were read, by this process or any other; if so, every
 * entry goes.
 *
 * SQLite answers "changed since?" in microseconds (the WAL index header, ./wal-index.ts, for
 * other connections, `total_changes()` for our own), so there a cached answer is never older than
 * the database was when the request arrived. PostgreSQL would need a round trip to ask, as much as the reads it
 * saves; instead the tables notify at commit and each instance listens (./change-notices.ts): this
 * process's own commits count at once, another instance's once its notice has arrived.
 */
export interface ReadCache {
  /** `load()`'s result for `key`, from memory when the database has not changed since it was read. */
  read<T>(key: string, load: () => Promise<T>): Promise<T>;
  /**
   * What `read(key, …)` would answer from memory, without waiting: NOT_CACHED when it would have
   * to load. The same check of the change counters comes first, so a hit is as current as read's.
   */
  cached<T>(key: string): T | typeof NOT_CACHED;
  /**
   * The same cache for the reads of one request: other processes' commits are looked for once,
   * at its first read (which is after it arrived), and this process's own before every read.
   */
  forRequest(): ReadCache;
  /**
   * Keeps `value`, worked out from what this request read, under `key` as of the request's first
   * read: it is answered only while nothing has been committed, here or elsewhere, since then.
   * False when it was not kept (always, for a view that is not one request's).
   */
  keep(key: string, value: unknown): boolean;
}

export interface ChangeCounters {
  /** Moves when this process commits a change (cheap: no transaction). */
  local(): number;
  /** Moves when another connection commits (costs a read transaction). */
  remote(): number;
}

/** `cached()`'s answer when the value is not in memory (or the database changed since it was read). */
export const NOT_CACHED: unique symbol = Symbol('not cached');

const READ_THROUGH: ReadCache = {
  read: (_key, load) => load(),
  cached: () => NOT_CACHED,
  forRequest: () => READ_THROUGH,
  keep: () => false,
};

export function createReadCache(counters: ChangeCounters | undefined, maxEntries = 10_000): ReadCache {
  if (!counters) return READ_THROUGH;
  const { local: localNow, remote: remoteCounter } = counters;
  const entries = new Map<string, unknown>();
  let validLocal = -1;
  let validRemote = -1;

  /** Empties the cache when either counter moved since its entries were read; returns the local one. */
  function current(remoteNow: number): number {
    const local = localNow();
    if (local !== validLocal || remoteNow !== validRemote) {
      entries.clear();
      validLocal = local;
      validRemote = remoteNow;
    }
    return local;
  }

  function cached<T>(key: string, remoteNow: number): T | typeof NOT_CACHED {
    current(remoteNow);
    const value = entries.get(key);
    return value === undefined && !entries.has(key) ? NOT_CACHED : (value as T);
  }

  async function read<T>(key: string, load: () => Promise<T>, remoteNow: number): Promise<T> {
    const local = current(remoteNow);
    if (entries.has(key)) return entries.get(key) as T;
    const value = await load();
    // Kept only when nothing was committed while it was read: then it is what the database held
    // at (local, remoteNow), and stays right until either counter moves.
    const unchanged = localNow() === local && remoteCounter() === remoteNow;
    if (unchanged && validLocal === local && validRemote === remoteNow) {
      if (entries.size >= maxEntries) entries.clear();
      entries.set(key, value);
    }
    return value;
  }

  /** One request's view: other processes' commits looked for at its first read only. */
  class RequestReads implements ReadCache {
    private remote: number | undefined;
    /** This process's counter at the first read, for keep(). */
    private local: number | undefined;

    read<T>(key: string, load: () => Promise<T>): Promise<T> {
      this.first();
      return read(key, load, this.remote!);
    }

    cached<T>(key: string): T | typeof NOT_CACHED {
      this.first();
      return cached<T>(key, this.remote!);
    }

    forRequest(): ReadCache {
      return this;
    }

    keep(key: string, value: unknown): boolean {
      // Stamped with the counters of the request's first read: a commit since then has moved one
      // of them, and the next look at the cache empties it, this entry with the rest.
      if (this.remote === undefined || this.local !== validLocal || this.remote !== validRemote) return false;
      if (entries.size >= maxEntries) entries.clear();
      entries.set(key, value);
      return true;
    }

    private first(): void {
      if (this.remote !== undefined) return;
      this.local = localNow();
      this.remote = remoteCounter();
    }
  }

  return {
    read: (key, load) => read(key, load, remoteCounter()),
    cached: <T>(key: string) => cached<T>(key, remoteCounter()),
    forRequest: () => new RequestReads(),
    keep: () => false,
  };
}
