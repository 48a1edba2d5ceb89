/**
 * Rows read on every request (whose token or session this is, whose picture an account name
 * means), kept in memory while the database has not changed. Before each use it asks whether
 * anything was committed since the row was read, by this process or any other; if so, the row is
 * read again.
 *
 * Where the database tells them apart, the rows are kept by what they were read from: the
 * directory (users, apps, tokens, sessions), the sites' pictures (renditions and their
 * timestamps) or what a sync decides from (mail photos, back-off states, profiles). A new picture
 * then leaves the tokens and sessions in memory, and the next request of every user who was served
 * before it is spared reading them again; a check's record leaves the pictures.
 *
 * SQLite answers "changed since?" in microseconds (the WAL index header, ./wal-index.ts, for
 * other connections, `total_changes()` for our own), so there a cached answer is never older than
 * the database was when the request arrived; it counts commits to the whole file. PostgreSQL
 * would need a round trip to ask, as much as the reads it saves; instead the tables notify at
 * commit, naming what changed, and each instance listens (./change-notices.ts): this process's own
 * commits count at once, another instance's once its notice has arrived.
 */
export interface ReadCache {
  /**
   * `load()`'s result for `key`, from memory when nothing it was read `from` has changed since.
   * A key is always read from the same rows.
   */
  read<T>(key: string, load: () => Promise<T>, from?: ReadFrom): Promise<T>;
  /**
   * What `read(key, …)` would answer from memory, without waiting: NOT_CACHED when it would have
   * to load. The same check of the change counters comes first, so a hit is as current as read's.
   */
  cached<T>(key: string): T | typeof NOT_CACHED;
  /**
   * Whether a value is kept under `key`, current or not: no look at the change counters (a caller
   * that finds one then asks `cached`, which looks).
   */
  holds(key: string): boolean;
  /**
   * The same cache for the reads of one request: other processes' commits are looked for once,
   * at its first read (which is after it arrived), and this process's own before every read.
   */
  forRequest(): ReadCache;
  /**
   * Keeps `value`, worked out from what this request read, under `key` as of the request's first
   * read: it is answered only while nothing it was read `from` has been committed, here or
   * elsewhere, since then. False when it was not kept (always, for a view that is not one request's).
   */
  keep(key: string, value: unknown, from?: ReadFrom): boolean;
}

/** Read from the directory's rows: users, apps, tokens, sessions. */
export const FROM_DIRECTORY = 1;
/** Read from the sites' pictures: renditions and their timestamps. */
export const FROM_PICTURES = 2;
/** Read from what a sync decides from: mail photos, back-off states, profiles (their "checked" time too). */
export const FROM_SYNC_INPUTS = 4;
/** Read from all of them (the default: a caller that does not say is never answered from stale rows). */
export const FROM_ALL = 7;
/** A set of topics: FROM_DIRECTORY | FROM_PICTURES, and so on. */
export type ReadFrom = number;

/** The topics the counters tell apart, in the order of the FROM_ bits: the directory, the pictures, the sync's inputs. */
export type Topic = 0 | 1 | 2;
const TOPICS = [0, 1, 2] as const;

export interface ChangeCounters {
  /**
   * Whether commits are counted by topic. When false, every commit moves the counters of all,
   * and `topic` is not looked at (SQLite: one counter for the file).
   */
  readonly byTopic: boolean;
  /** Moves when this process commits a change to the topic's rows (cheap: no transaction). */
  local(topic: Topic): number;
  /** Moves when another connection commits a change to them (may cost a read transaction). */
  remote(topic: Topic): number;
}

/** `cached()`'s answer when the value is not in memory (or the database changed since it was read). */
export const NOT_CACHED: unique symbol = Symbol('not cached');

const READ_THROUGH: ReadCache = {
  read: (_key, load) => load(),
  cached: () => NOT_CACHED,
  holds: () => false,
  forRequest: () => READ_THROUGH,
  keep: () => false,
};

/**
 * A kept value with the counters of what it was read from, as they stood before it was read: the
 * sum of this process's, and the sum of the other processes' as last looked at. Every counter only
 * moves up, and each sum is of counters read at one moment, so an equal sum means none moved.
 */
interface Entry {
  value: unknown;
  from: ReadFrom;
  local: number;
  remote: number;
}

/** Counters of every topic as looked at once (one request's view of the other processes'). */
type View = number[];

export function createReadCache(counters: ChangeCounters | undefined, maxEntries = 10_000): ReadCache {
  if (!counters) return READ_THROUGH;
  const { byTopic } = counters;
  const entries = new Map<string, Entry>();

  /** The sum of `count`'s topics in `from` (the first alone, where one counter moves for all). */
  const sumOf = (from: ReadFrom, count: (topic: Topic) => number): number => {
    if (!byTopic) return count(0);
    let sum = 0;
    for (const topic of TOPICS) if (from & (1 << topic)) sum += count(topic);
    return sum;
  };
  const localOf = (from: ReadFrom): number => sumOf(from, counters.local);
  const viewNow = (count: (topic: Topic) => number): View => (byTopic ? TOPICS.map(count) : [count(0)]);
  /** The other processes' counters of `from`, as a request saw them or (without a view) as they are now. */
  const remoteOf = (view: View | undefined, from: ReadFrom): number =>
    sumOf(from, view ? (topic) => view[topic]! : counters.remote);

  /** The entry under `key` while none of its counters moved (it is dropped once one has). */
  function current(key: string, view: View | undefined): Entry | undefined {
    // A key not kept costs no look at the counters (most of an unknown address's price).
    const entry = entries.get(key);
    if (!entry) return undefined;
    const local = localOf(entry.from);
    const remote = remoteOf(view, entry.from);
    if (entry.local === local && entry.remote === remote) return entry;
    // Out of date for everyone, unless only this request looked at the other processes'
    // counters before the one that kept it did: then it is left for the requests after.
    if (entry.local !== local || entry.remote < remote) entries.delete(key);
    return undefined;
  }

  function store(key: string, entry: Entry): void {
    if (entries.size >= maxEntries && !entries.has(key)) entries.clear();
    entries.set(key, entry);
  }

  function cached<T>(key: string, remote: View | undefined): T | typeof NOT_CACHED {
    const entry = current(key, remote);
    return entry ? (entry.value as T) : NOT_CACHED;
  }

  async function read<T>(key: string, load: () => Promise<T>, from: ReadFrom, remote: View | undefined): Promise<T> {
    const found = current(key, remote);
    if (found) return found.value as T;
    const local = localOf(from);
    const before = remoteOf(remote, from);
    const value = await load();
    // Kept only when nothing it was read from was committed while it was read (nor since the
    // request looked at the other processes' counters): then it is what the database held at
    // those counters, and stays right until one of them moves.
    if (localOf(from) === local && remoteOf(undefined, from) === before) {
      store(key, { value, from, local, remote: before });
    }
    return value;
  }

  /** One request's view: other processes' commits looked for at its first read only. */
  class RequestReads implements ReadCache {
    private remote: View | undefined;
    /** This process's counters at the first read, for keep(). */
    private local: View = [];

    read<T>(key: string, load: () => Promise<T>, from: ReadFrom = FROM_ALL): Promise<T> {
      return read(key, load, from, this.first());
    }

    cached<T>(key: string): T | typeof NOT_CACHED {
      return cached<T>(key, this.first());
    }

    holds(key: string): boolean {
      return entries.has(key);
    }

    forRequest(): ReadCache {
      return this;
    }

    keep(key: string, value: unknown, from: ReadFrom = FROM_ALL): boolean {
      const remote = this.remote;
      if (remote === undefined) return false;
      // As of the request's first read: a commit since then to what it was read from has moved
      // one of the counters, and it is not kept.
      const local = sumOf(from, (topic) => this.local[topic]!);
      const before = remoteOf(remote, from);
      if (localOf(from) !== local || remoteOf(undefined, from) !== before) return false;
      store(key, { value, from, local, remote: before });
      return true;
    }

    private first(): View {
      if (this.remote !== undefined) return this.remote;
      this.local = viewNow(counters!.local);
      return (this.remote = viewNow(counters!.remote));
    }
  }

  return {
    read: (key, load, from = FROM_ALL) => read(key, load, from, undefined),
    cached: <T>(key: string) => cached<T>(key, undefined),
    holds: (key) => entries.has(key),
    forRequest: () => new RequestReads(),
    keep: () => false,
  };
}
