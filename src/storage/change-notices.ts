import type pg from 'pg';
import type { ChangeCounters } from './read-cache.js';

// PostgreSQL's answer to "changed since?" for the read cache, without a round trip per request:
// the tables the serving path keeps in memory notify at every commit that changes them, naming
// the topic (the directory's rows, the pictures' or the sync's inputs) and the schema, on the channel
// `photosync_topic_changes` (migration 2026-12-19-01; the channel `photosync_changes`, which names
// the schema only, is still sent for instances of earlier versions). Each instance listens on a
// connection of its own. This process's own writes count at once, when their statement returns.
//
// What it promises: this process's own commits are seen by its very next read, as on SQLite.
// Another instance's commit is seen once its notice has arrived: PostgreSQL sends it at the commit,
// to every listener at once, but nothing orders its arrival here before a request that a client
// sends here after seeing that commit elsewhere; in that gap (the time a notice takes, well under a
// millisecond on an idle LAN, longer when this process is busy) a cached row can be one commit old.
// While the listening connection is down every read goes to the database, and the cache empties
// once it is back.

export const CHANGES_CHANNEL = 'photosync_topic_changes';

/** The topics as the notices name them, in the read cache's order (./read-cache.ts). */
const TOPIC_NAMES = ['directory', 'pictures', 'inputs'] as const;

export interface ChangeNotices extends ChangeCounters {
  /**
   * Calls `listener` when another process commits a change to the administrator's settings, and
   * whenever listening (re)starts (what changed while nobody listened is unknown).
   */
  onSettingsChanged(listener: () => void): void;
  /** Whether the connection that listens is up: every commit of another process is then announced. */
  listening(): boolean;
  /**
   * Called as each statement of this process finishes, with the connection it ran on: a write
   * among them moves `local()` of its topic, once when it returns and again when its transaction
   * ends.
   */
  statementDone(sql: string, connection: TransactionState): void;
  close(): Promise<void>;
}

/** A connection's transaction status after its last statement (pg's getTransactionStatus). */
export interface TransactionState {
  getTransactionStatus(): string | null;
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
  /** Listening again after a loss that was told (`onError`). */
  onBack?: () => void;
  retryMs?: number;
}

const READS_ONLY = /^\s*select\b/i;
/**
 * The statements of this process that change what the cache keeps, by topic: the same tables as
 * the triggers'. The pictures: renditions, and site_profiles where the picture's timestamp is
 * written. The sync's inputs: mail photos, back-off states and any write to a profile.
 */
const TOPIC_TABLES = [
  /\bdirectory_(?:users|tokens|sessions|apps)\b/,
  /\bsite_renditions\b|\bsite_profiles\b[\s\S]*\bpicture_timestamp\b|\bpicture_timestamp\b[\s\S]*\bsite_profiles\b/,
  /\b(?:mail_photos|sync_state|site_profiles)\b/,
] as const;

/** Every topic's bit. */
const ALL_TOPICS = 7;

/** A user's removal, which takes their profile, photo and renditions with it (foreign keys, on delete cascade). */
const USER_REMOVAL = /^\s*delete\s+from\s+"?directory_users\b/i;

/**
 * The topics (a bit each: 1 the directory, 2 the pictures, 4 the sync's inputs) whose rows a
 * statement of this process may have changed.
 */
export function topicsChangedBy(sql: string): number {
  if (READS_ONLY.test(sql)) return 0;
  if (USER_REMOVAL.test(sql)) return ALL_TOPICS;
  let topics = 0;
  TOPIC_TABLES.forEach((table, topic) => {
    if (table.test(sql)) topics |= 1 << topic;
  });
  return topics;
}

/** `pg`: the driver, loaded by the caller (only PostgreSQL's start loads it). */
export function listenForChanges({ Client }: typeof pg, options: ChangeNoticeOptions): ChangeNotices {
  const local = TOPIC_NAMES.map(() => 0);
  const remote = TOPIC_NAMES.map(() => 0);
  /** The topics each connection's transaction under way has written, counted again when it ends. */
  const written = new WeakMap<TransactionState, number>();
  const count = (counters: number[], topics: number) => {
    for (let topic = 0; topic < counters.length; topic++) if (topics & (1 << topic)) counters[topic]!++;
  };
  let listening = false;
  /** The loss of the listening connection was told (`onError`); told again only after it is back. */
  let reported = false;
  /** Attempts that failed since the connection last listened, or since the start. */
  let failed = 0;
  let listenedOnce = false;
  let closed = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;

  /** Only notices naming this connection's schema count (by topic); other schemas are others' business. */
  let topicOf = new Map<string, number>();
  /** The notice another process's change of the settings sends ("settings <schema>", migration 2026-12-20-01). */
  let settingsNotice: string | undefined;
  const settingsListeners: Array<() => void> = [];
  const settingsChanged = () => {
    for (const listener of settingsListeners) listener();
  };

  async function connect(): Promise<void> {
    const next = new Client(options.clientConfig);
    next.on('notification', (notice) => {
      if (notice.channel !== CHANGES_CHANNEL || options.isOwnConnection(notice.processId)) return;
      const topic = topicOf.get(notice.payload ?? '');
      if (topic !== undefined) remote[topic]!++;
      else if (notice.payload === settingsNotice) settingsChanged();
    });
    const lost = (error?: Error) => {
      if (client !== next) return;
      listening = false;
      client = undefined;
      failed++;
      // Once per loss, not once per second while the database stays away; a first attempt that
      // fails is told only if the next fails too (a command whose database cannot be reached
      // says so itself and ends before).
      if (!reported && (listenedOnce || failed > 1)) {
        options.onError?.(error ?? new Error('The database closed the connection.'));
        reported = true;
      }
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
      const schema = (await next.query<{ schema: string }>('select current_schema() as schema')).rows[0]?.schema;
      topicOf = new Map(TOPIC_NAMES.map((name, topic) => [`${name} ${schema}`, topic]));
      settingsNotice = `settings ${schema}`;
    } catch (error) {
      lost(error as Error);
      return;
    }
    if (closed) return void next.end().catch(() => {});
    // Whatever was committed while nobody listened is unknown: start afresh.
    count(remote, ALL_TOPICS);
    listening = true;
    if (reported) options.onBack?.();
    reported = false;
    failed = 0;
    listenedOnce = true;
    settingsChanged();
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
    onSettingsChanged: (listener) => void settingsListeners.push(listener),
    listening: () => listening,
    byTopic: true,
    local: (topic) => local[topic]!,
    // Without a listening connection nothing can vouch for a cached row: a new value every time,
    // so every read goes to the database and nothing is kept.
    remote: (topic) => (listening ? remote[topic]! : ++remote[topic]!),
    statementDone(sql, connection) {
      const topics = topicsChangedBy(sql);
      count(local, topics);
      // A write in a transaction counts again when it ends (commit or rollback), so a row read
      // by another connection between the two, before the commit, is not kept.
      const idle = connection.getTransactionStatus() === 'I';
      const pending = (written.get(connection) ?? 0) | topics;
      if (!idle) {
        if (pending) written.set(connection, pending);
      } else if (written.has(connection)) {
        written.delete(connection);
        count(local, pending);
      }
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
