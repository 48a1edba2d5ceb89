import type pg from 'pg';
import type { ChangeCounters } from './read-cache.js';

// PostgreSQL's answer to "changed since?" for the read cache, without a round trip per request:
// the tables the serving path keeps in memory notify the channel `photosync_changes` at every
// commit that changes them (migration 2026-12-07-02), and each instance listens on a connection
// of its own. This process's own writes count at once, when their statement returns.
//
// What it promises: this process's own commits are seen by its very next read, as on SQLite.
// Another instance's commit is seen once its notice has arrived: PostgreSQL sends it at the commit,
// to every listener at once, but nothing orders its arrival here before a request that a client
// sends here after seeing that commit elsewhere; in that gap (the time a notice takes, well under a
// millisecond on an idle LAN, longer when this process is busy) a cached row can be one commit old.
// While the listening connection is down every read goes to the database, and the cache empties
// once it is back.

export const CHANGES_CHANNEL = 'photosync_changes';

export interface ChangeNotices extends ChangeCounters {
  /** Called as each statement of this process finishes: a write among them moves `local()`. */
  statementDone(sql: string): void;
  close(): Promise<void>;
}

export interface ChangeNoticeOptions {
  /** The same connection settings as the pool's (the schema among them). */
  clientConfig: pg.ClientConfig;
  /**
   * Whether a server process is one of this process's own connections: their commits already
   * counted when their statements returned, so their notices are echoes and change nothing.
   */
  isOwnConnection: (serverPid: number) => boolean;
  onError?: (error: Error) => void;
  retryMs?: number;
}

const READS_ONLY = /^\s*select\b/i;
const COMMIT = /^\s*commit\b/i;
/**
 * The statements of this process that change what the cache keeps: the same tables as the
 * triggers', and site_profiles where the picture's timestamp is written. A write in a transaction
 * counts again at its commit, so a read made between the two is not kept.
 */
const WATCHED =
  /\b(?:directory_users|directory_tokens|directory_sessions|directory_apps|site_renditions)\b|\bsite_profiles\b[\s\S]*\bpicture_timestamp\b|\bpicture_timestamp\b[\s\S]*\bsite_profiles\b/;

/** Whether a statement of this process may have changed a row the read cache keeps. */
export function changesCachedRows(sql: string): boolean {
  return COMMIT.test(sql) || (!READS_ONLY.test(sql) && WATCHED.test(sql));
}

/** `pg`: the driver, loaded by the caller (only PostgreSQL's start loads it). */
export function listenForChanges({ Client }: typeof pg, options: ChangeNoticeOptions): ChangeNotices {
  let local = 0;
  let remote = 0;
  let listening = false;
  let closed = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;

  /** Only notices naming this connection's schema count; other schemas are others' business. */
  let schema: string | undefined;

  async function connect(): Promise<void> {
    const next = new Client(options.clientConfig);
    next.on('notification', (notice) => {
      if (notice.channel !== CHANGES_CHANNEL || notice.payload !== schema) return;
      if (!options.isOwnConnection(notice.processId)) remote++;
    });
    const lost = (error?: Error) => {
      if (client !== next) return;
      listening = false;
      client = undefined;
      if (error) options.onError?.(error);
      next.removeAllListeners('notification');
      void next.end().catch(() => {});
      scheduleRetry();
    };
    next.on('error', lost);
    next.on('end', () => lost());
    client = next;
    try {
      await next.connect();
      await next.query(`LISTEN ${CHANGES_CHANNEL}`);
      schema = (await next.query<{ schema: string }>('select current_schema() as schema')).rows[0]?.schema;
    } catch (error) {
      lost(error as Error);
      return;
    }
    if (closed) return void next.end().catch(() => {});
    // Whatever was committed while nobody listened is unknown: start afresh.
    remote++;
    listening = true;
  }

  function scheduleRetry() {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, options.retryMs ?? 1000);
    retry.unref();
  }

  const started = connect();

  return {
    local: () => local,
    // Without a listening connection nothing can vouch for a cached row: a new value every time,
    // so every read goes to the database and nothing is kept.
    remote: () => (listening ? remote : ++remote),
    statementDone(sql) {
      if (changesCachedRows(sql)) local++;
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      await started.catch(() => {});
      const current = client;
      client = undefined;
      listening = false;
      await current?.end().catch(() => {});
    },
  };
}
