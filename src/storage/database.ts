import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { withUnicodeLower } from './sqlite-functions.js';
import { photosyncApplicationName, schemaOf } from './pg-application-name.js';
import type { SqliteDriver } from 'kysely';
import {
  Kysely,
  Migrator,
  PostgresAdapter,
  PostgresDialect,
  CompiledQuery,
  SqliteAdapter,
  SqliteDialect,
  sql,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type DatabaseMetadata,
  type DialectAdapter,
  type Driver,
  type Migration,
  type SqliteDialectConfig,
  type SchemaMetadata,
  type TableMetadata,
  type Transaction,
} from 'kysely';
import type pg from 'pg';
import type { AdminTables } from '../admin/tables.js';
import type { DirectoryTables } from '../directory/tables.js';
import type { M365Tables } from '../m365/tables.js';
import type { MailTables } from '../mail/tables.js';
import type { SiteTables } from '../sites/tables.js';
import type { SyncTables } from '../sync/tables.js';
import * as initial from './migrations/2026-11-25-01-initial.js';
import * as apps from './migrations/2026-11-26-01-apps.js';
import * as admin from './migrations/2026-11-26-02-admin.js';
import * as inStepBeforeFailing from './migrations/2026-11-30-01-in-step-before-failing.js';
import * as m365 from './migrations/2026-11-30-02-m365.js';
import * as entra from './migrations/2026-12-01-01-entra.js';
import * as historyChecks from './migrations/2026-12-02-01-history-checks.js';
import * as promptOutbox from './migrations/2026-12-02-02-prompt-outbox.js';
import * as signInFailures from './migrations/2026-12-03-01-sign-in-failures.js';
import * as revocation from './migrations/2026-12-03-02-revocation.js';
import { describeStorageFault, fromDatabaseDriver, osUserName as userName, storageFaultOf } from './faults.js';
import * as adminActionOrder from './migrations/2026-12-04-01-admin-action-order.js';
import * as adminSearch from './migrations/2026-12-04-02-admin-search.js';
import * as lockedRead from './migrations/2026-12-07-01-locked-read.js';
import * as changeNotices from './migrations/2026-12-07-02-change-notices.js';
import { listenForChanges } from './change-notices.js';
import * as libraryFiles from './migrations/2026-12-08-01-library-files.js';
import * as m365Sessions from './migrations/2026-12-09-01-m365-sessions.js';
import * as m365ReasonCode from './migrations/2026-12-12-01-m365-reason-code.js';
import * as m365Search from './migrations/2026-12-12-02-m365-search.js';
import * as m365FileStems from './migrations/2026-12-15-01-m365-file-stems.js';
import * as searchPendingList from './migrations/2026-12-16-01-search-pending-list.js';
import * as unicodeLower from './migrations/2026-12-16-02-unicode-lower.js';
import * as promptsAnswered from './migrations/2026-12-16-03-prompts-answered.js';
import * as syncStateOrder from './migrations/2026-12-17-01-sync-state-order.js';
import * as blobKeyIndexes from './migrations/2026-12-17-02-blob-key-indexes.js';
import * as mailPhotoRenditions from './migrations/2026-12-18-01-mail-photo-renditions.js';
import * as changeTopics from './migrations/2026-12-19-01-change-topics.js';
import * as inputNotices from './migrations/2026-12-19-02-input-notices.js';
import * as settingsNotices from './migrations/2026-12-20-01-settings-notices.js';
import * as statusRefreshPlan from './migrations/2026-12-20-02-status-refresh-plan.js';
import * as publicClients from './migrations/2026-12-21-01-public-clients.js';
import * as failingPerPhoto from './migrations/2026-12-21-02-failing-per-photo.js';
import * as syncRead from './migrations/2026-12-22-01-sync-read.js';
import * as spaRedirectUris from './migrations/2026-12-22-02-spa-redirect-uris.js';
import * as sizeChangeSince from './migrations/2026-12-22-03-size-change-since.js';
import * as m365ScanUnread from './migrations/2026-12-23-01-m365-scan-unread.js';
import { statementName } from './prepared.js';
import { createReadCache, type ReadCache } from './read-cache.js';
import { withStatementCache } from './statement-cache.js';
import { walIndexChanges } from './wal-index.js';

export interface StorageTables {
  storage_blobs: { key: string; bytes: Buffer; created_at: number };
}

export interface Database
  extends DirectoryTables, MailTables, SiteTables, SyncTables, StorageTables, AdminTables, M365Tables {}

/** Repository functions take either the database or an open transaction. */
export type Db = Kysely<Database> | Transaction<Database>;

export type Dialect = 'sqlite' | 'postgres';

export interface DatabaseHandle {
  db: Kysely<Database>;
  dialect: Dialect;
  /** Human-readable location, for start-up messages. */
  location: string;
  /** Per-request reads kept until the next commit that changes them (see ReadCache). */
  reads: ReadCache;
  /**
   * PostgreSQL: another instance's change of the administrator's settings, announced at its
   * commit. SQLite has no notices (its other processes are the command line's, or another server
   * on the same folder).
   */
  settingsNotices?: {
    /** Calls `listener` at each such notice, and when the listening connection (re)starts. */
    onChange(listener: () => void): void;
    /** Whether the listening connection is up, so every change is announced. */
    listening(): boolean;
  };
  /**
   * Statements sent to PostgreSQL so far by this handle's pool, each one round trip (BEGIN and
   * COMMIT count); always 0 on SQLite, whose statements are function calls.
   */
  roundTrips(): number;
  /**
   * Reads the first row of every table from what is stored now (on SQLite through a connection of
   * its own, past this one's page cache); throws what the storage says when it cannot.
   */
  probe(): Promise<void>;
  close(): Promise<void>;
}

/** The database cannot be used as it is: damaged, another application's, not a database at all. */
export class DatabaseFileError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DatabaseFileError';
  }
}

const migrations: Record<string, Migration> = {
  '2026-11-25-01-initial': initial,
  '2026-11-26-01-apps': apps,
  '2026-11-26-02-admin': admin,
  '2026-11-30-01-in-step-before-failing': inStepBeforeFailing,
  '2026-11-30-02-m365': m365,
  '2026-12-01-01-entra': entra,
  '2026-12-02-01-history-checks': historyChecks,
  '2026-12-02-02-prompt-outbox': promptOutbox,
  '2026-12-03-01-sign-in-failures': signInFailures,
  '2026-12-03-02-revocation': revocation,
  '2026-12-04-01-admin-action-order': adminActionOrder,
  '2026-12-04-02-admin-search': adminSearch,
  '2026-12-07-01-locked-read': lockedRead,
  '2026-12-07-02-change-notices': changeNotices,
  '2026-12-08-01-library-files': libraryFiles,
  '2026-12-09-01-m365-sessions': m365Sessions,
  '2026-12-12-01-m365-reason-code': m365ReasonCode,
  '2026-12-12-02-m365-search': m365Search,
  '2026-12-15-01-m365-file-stems': m365FileStems,
  '2026-12-16-01-search-pending-list': searchPendingList,
  '2026-12-16-02-unicode-lower': unicodeLower,
  '2026-12-16-03-prompts-answered': promptsAnswered,
  '2026-12-17-01-sync-state-order': syncStateOrder,
  '2026-12-17-02-blob-key-indexes': blobKeyIndexes,
  '2026-12-18-01-mail-photo-renditions': mailPhotoRenditions,
  '2026-12-19-01-change-topics': changeTopics,
  '2026-12-19-02-input-notices': inputNotices,
  '2026-12-20-01-settings-notices': settingsNotices,
  '2026-12-20-02-status-refresh-plan': statusRefreshPlan,
  '2026-12-21-01-public-clients': publicClients,
  '2026-12-21-02-failing-per-photo': failingPerPhoto,
  '2026-12-22-01-sync-read': syncRead,
  '2026-12-22-02-spa-redirect-uris': spaRedirectUris,
  '2026-12-22-03-size-change-since': sizeChangeSince,
  '2026-12-23-01-m365-scan-unread': m365ScanUnread,
};

export interface OpenDatabaseOptions {
  databaseUrl?: string | undefined;
  /** Directory for the SQLite file when no databaseUrl is given. */
  dataDir: string;
  /** PostgreSQL schema to use (tests isolate themselves in their own schema). */
  schema?: string;
  poolSize?: number;
  /**
   * PostgreSQL: told when an idle pooled connection is closed by the server (a restart, a
   * failover, an administrator, an idle reaper). The pool drops it and opens another when needed.
   */
  onIdleConnectionLost?: (error: Error) => void;
  /**
   * PostgreSQL: the connection that listens for other instances' changes failed or closed; until
   * it is back (tried again every second) every read goes to the database.
   */
  onChangeNoticesLost?: (error: Error) => void;
  /** PostgreSQL: that connection listens again after a loss told by onChangeNoticesLost. */
  onChangeNoticesBack?: () => void;
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  const handle = options.databaseUrl ? await openPostgres(options.databaseUrl, options) : openSqlite(options.dataDir);
  try {
    await migrateToLatest(handle.db);
  } catch (error) {
    await handle.close();
    throw error;
  }
  return handle;
}

/** The SQLite file of a data folder. */
export const sqliteFileOf = (dataDir: string) => path.join(dataDir, 'photosync.sqlite');

function openSqlite(dataDir: string): DatabaseHandle {
  const file = sqliteFileOf(dataDir);
  try {
    fs.mkdirSync(dataDir, { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      throw new DatabaseFileError(
        `The data folder ${dataDir} is a file, or inside one, not a folder: set PHOTOSYNC_DATA_DIR to a folder (photosync makes one that does not exist).`,
        { cause: error },
      );
    }
    throw explainSqliteOpenError(error, file);
  }
  let database: SQLite.Database | undefined;
  try {
    database = withUnicodeLower(new SQLite(file));
    // WAL lets readers in other processes (the CLI) work while the server writes; busy_timeout makes
    // a second process wait for the write lock instead of failing at once.
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('busy_timeout = 5000');
    database.pragma('foreign_keys = ON');
    checkSqliteFile(database, file);
  } catch (error) {
    database?.close();
    throw explainSqliteOpenError(error, file);
  }
  const db = new Kysely<Database>({
    dialect: new ImmediateSqliteDialect({ database: withStatementCache(database) }, database),
  });
  // The WAL index header moves when any connection (another process) commits, total_changes()
  // when this one changes a row: together they move on every commit to the file. The header is
  // read from the -shm file (./wal-index.ts), cheaper than `PRAGMA data_version`, which answers
  // the same where the header cannot be read.
  const dataVersion = database.prepare('PRAGMA data_version').pluck();
  const totalChanges = database.prepare('SELECT total_changes()').pluck();
  const walIndex = walIndexChanges(file);
  const reads = createReadCache({
    // One counter for the whole file: the WAL index header moves with this process's commits too.
    byTopic: false,
    local: () => totalChanges.get() as number,
    remote: walIndex ? walIndex.counter : () => dataVersion.get() as number,
  });
  return {
    db,
    dialect: 'sqlite',
    location: file,
    reads,
    roundTrips: () => 0,
    probe: () => Promise.resolve(probeSqliteFile(file)),
    close: async () => {
      walIndex?.close();
      await db.destroy();
    },
  };
}

/** What a photosync database's tables start with; any of them (or the migrations' table) makes a file ours. */
const OWN_TABLE = /^(photosync_|directory_|mail_|site_|sync_|admin_|m365_|storage_|user_locales$)/;

/**
 * Refuses a file SQLite finds damaged (quick_check reads every page and checks each b-tree, in
 * about a second per few hundred MB) and a file of another application, which migrations would
 * fill with photosync's tables.
 */
function checkSqliteFile(database: SQLite.Database, file: string): void {
  const problems = (database.pragma('quick_check(5)') as Array<{ quick_check: string }>).map((r) => r.quick_check);
  if (problems.length !== 1 || problems[0] !== 'ok')
    throw damagedFile(file, `SQLite's quick_check: ${problems.join('; ')}`);
  const tables = tableNames(database);
  const foreign = tables.filter((name) => !OWN_TABLE.test(name));
  if (foreign.length > 0 && foreign.length === tables.length) {
    const listed = foreign.slice(0, 5).join(', ') + (foreign.length > 5 ? ', …' : '');
    throw new DatabaseFileError(
      `The database file ${file} holds another application's tables (${listed}) and none of photosync's; ` +
        'photosync will not add its own to it. Set PHOTOSYNC_DATA_DIR to a folder of its own.',
    );
  }
}

function tableNames(database: SQLite.Database): string[] {
  return database
    .prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name")
    .pluck()
    .all() as string[];
}

/** SQLite's refusals at opening, in words that name the file and the cause. */
function explainSqliteOpenError(error: unknown, file: string): unknown {
  if (error instanceof DatabaseFileError) return error;
  const code = (error as { code?: unknown }).code;
  if (code === 'SQLITE_NOTADB') {
    return new DatabaseFileError(`The file ${file} is not a SQLite database (SQLITE_NOTADB).`, { cause: error });
  }
  if (storageFaultOf(error) === 'damaged') return damagedFile(file, String(code), error);
  if (code === 'SQLITE_CANTOPEN') {
    return new DatabaseFileError(
      `Cannot open the database file ${file}: SQLite cannot open it (SQLITE_CANTOPEN). The folder ${path.dirname(file)} ` +
        `must be on a disk that is not full or mounted read-only, and the user photosync runs as${userName()} must be ` +
        'able to read and write it and the files in it.',
      { cause: error },
    );
  }
  const fault = describeStorageFault(error);
  if (fault) return new DatabaseFileError(`Cannot open the database file ${file}: ${fault}.`, { cause: error });
  return error;
}

function damagedFile(file: string, why: string, cause?: unknown): DatabaseFileError {
  return new DatabaseFileError(
    `The database file ${file} is damaged (${why}). ` +
      'photosync will not start on it: restore it from a backup (photosync restore) or move it aside.',
    cause === undefined ? undefined : { cause },
  );
}

/** Reads the first row of every table through a fresh read-only connection: what is on disk now. */
function probeSqliteFile(file: string): void {
  const probe = withUnicodeLower(new SQLite(file, { readonly: true, fileMustExist: true }));
  try {
    for (const name of tableNames(probe)) probe.prepare(`select * from "${name}" limit 1`).get();
  } finally {
    probe.close();
  }
}

/**
 * Transactions that take SQLite's write lock at BEGIN. A deferred transaction that reads first
 * fails at once with "database is locked" when another process wrote in between, without waiting
 * for busy_timeout; an immediate one waits its turn. Migrations run in one such transaction
 * (SQLite's DDL is transactional), so two processes starting on a new file migrate it once.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  constructor(
    config: SqliteDialectConfig,
    private readonly file: SQLite.Database,
  ) {
    super(config);
  }

  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }

  override createDriver(): Driver {
    const driver = super.createDriver() as SqliteDriver;
    driver.beginTransaction = async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    const rollback = driver.rollbackTransaction.bind(driver);
    // SQLite rolls a transaction back itself after some errors (a full disk, an I/O error); a
    // second rollback would fail with "cannot rollback - no transaction is active", and that error
    // would take the place of the one that says what happened.
    driver.rollbackTransaction = async (connection: DatabaseConnection) => {
      if (this.file.inTransaction) await rollback(connection);
    };
    return driver;
  }
}

// int8 (bigint) columns hold epoch milliseconds, well inside Number's exact range.
const pgTypes = (types: typeof pg.types) => ({
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20) return (value: string) => Number(value);
    return types.getTypeParser(oid, format as 'text');
  },
});

/**
 * A named statement PostgreSQL will not run again: prepared before another process's migration
 * changed what it returns ("cached plan must not change result type"), or gone from the server.
 */
const STALE_STATEMENT = new Set(['0A000', '26000']);

/**
 * pg's client, counting the statements it sends (each is one round trip to the server) and
 * telling `done` each one's text and connection once it has finished, whether it succeeded or not. The prepared
 * queries (./prepared.ts) go as named statements, parsed once per connection; one that goes
 * stale on a connection runs there unnamed from then on (at once, unless a transaction was
 * under way, which fails as it would have without names).
 */
/** How long a PostgreSQL connection may take to be made. */
const CONNECT_TIMEOUT_MS = 10_000;
/**
 * How long photosync waits for one statement's answer: longer than any statement it sends takes
 * (a lock waits 30 s at most, see ./user-lock.ts), so only a database that stopped answering meets it.
 */
const QUERY_TIMEOUT_MS = 120_000;

function countingClient(
  { Client }: typeof pg,
  counter: { sent: number },
  done: (sql: string, connection: pg.Client) => void,
): typeof pg.Client {
  const send = Client.prototype.query as (...args: unknown[]) => unknown;
  class CountingClient extends Client {
    /** Names whose statements this connection runs unnamed (see STALE_STATEMENT). */
    readonly staleNames = new Set<string>();
    constructor(config?: string | pg.ClientConfig) {
      // The connection's own deadline: the pool's (connectionTimeoutMillis on the pool) would also
      // bound the wait for a free connection, which is the load's, not an unreachable database's.
      super({
        ...(typeof config === 'string' ? { connectionString: config } : config),
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      });
    }
  }
  async function sendNamed(client: CountingClient, name: string, text: string, values: unknown[]) {
    try {
      return await (send.call(client, { name, text, values }) as Promise<unknown>);
    } catch (error) {
      if (!STALE_STATEMENT.has((error as { code?: string }).code ?? '')) throw error;
      client.staleNames.add(name);
      if (client.getTransactionStatus() !== 'I') throw error;
      counter.sent++;
      return send.call(client, text, values);
    }
  }
  (CountingClient.prototype as { query: unknown }).query = function (this: CountingClient, ...args: unknown[]) {
    counter.sent++;
    const [first, values] = args;
    const name =
      typeof first === 'string' && Array.isArray(values) && args.length === 2 ? statementName(first) : undefined;
    const result =
      name && !this.staleNames.has(name)
        ? sendNamed(this, name, first as string, values as unknown[])
        : send.apply(this, args);
    const text = typeof first === 'string' ? first : ((first as { text?: string } | undefined)?.text ?? '');
    if (result instanceof Promise) {
      const finished = () => done(text, this);
      result.then(finished, finished);
      // A connection that broke or timed out is told from the database's own refusals (faults.ts).
      return result.catch((error: unknown) => {
        // A statement not answered in QUERY_TIMEOUT_MS is still running, or the peer is gone: the
        // connection is closed, so the pool drops it instead of queueing the next statements behind it.
        if (error instanceof Error && error.message === 'Query read timeout') {
          (this as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
        }
        throw fromDatabaseDriver(error);
      });
    }
    return result;
  };
  return CountingClient;
}

/**
 * `current_schema()` on a connection of its own: the first schema of the search_path that exists
 * (with libpq's options from the URL or PGOPTIONS). Undefined when none does or the database
 * cannot be reached: the first real query then says why.
 */
async function workingSchema(pgModule: typeof pg, config: pg.ClientConfig): Promise<string | undefined> {
  const client = new pgModule.Client(config);
  try {
    await client.connect();
    const found = await client.query<{ schema: string | null }>('select current_schema() as schema');
    return found.rows[0]?.schema ?? undefined;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}

/** pg is loaded only for PostgreSQL: a start on the SQLite default is spared loading it. */
async function openPostgres(url: string, options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  const { default: pg } = await import('pg');
  const counter = { sent: 0 };
  const searchPath = options.schema ? { options: `-c search_path=${options.schema}` } : {};
  // The schema this process works in, as PostgreSQL picks it, names its connections (for a
  // restore's check that none uses the schema it replaces) and the start-up line.
  const working = await workingSchema(pg, { connectionString: url, ...searchPath });
  const connection = {
    connectionString: url,
    types: pgTypes(pg.types) as pg.CustomTypesConfig,
    application_name: working === undefined ? photosyncApplicationName(url, options.schema) : `photosync ${working}`,
    ...searchPath,
  };
  const ownServerPids = new Set<number>();
  const notices = listenForChanges(pg, {
    clientConfig: connection,
    isOwnConnection: (pid) => ownServerPids.has(pid),
    ...(options.onChangeNoticesLost ? { onError: options.onChangeNoticesLost } : {}),
    ...(options.onChangeNoticesBack ? { onBack: options.onChangeNoticesBack } : {}),
  });
  const pool = new pg.Pool({
    ...connection,
    Client: countingClient(pg, counter, (text, connection) => notices.statementDone(text, connection)),
    max: options.poolSize ?? 10,
    // A database that stops answering (a dead host, a network cut off) is an error in bounded
    // time, never a request, a probe or a shutdown waiting for ever: a connection within 10 s
    // (CountingClient), each statement's answer within QUERY_TIMEOUT_MS, and the kernel asked to
    // notice dead peers.
    query_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  // A connection that could not be made is the database's, as a broken one is.
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown;
  (pool as { connect: unknown }).connect = (...args: unknown[]) => {
    const result = connect(...args);
    return result instanceof Promise
      ? result.catch((error: unknown) => {
          throw fromDatabaseDriver(error);
        })
      : result;
  };
  // Without a listener an idle connection's error would end the process (an unhandled 'error' event).
  pool.on('error', (error) => options.onIdleConnectionLost?.(error));
  const serverPid = (client: pg.PoolClient) => (client as unknown as { processID: number | null }).processID;
  pool.on('connect', (client) => {
    // A connection that dies while checked out (mid-statement, or between a transaction's
    // statements) fails its statement, which is where the error is answered; its 'error' event
    // would otherwise end the process. The pool drops it when it comes back.
    client.on('error', () => {});
    const pid = serverPid(client);
    if (pid) ownServerPids.add(pid);
  });
  pool.on('remove', (client) => {
    const pid = serverPid(client);
    if (pid) ownServerPids.delete(pid);
  });
  const db = new Kysely<Database>({ dialect: new OwnSchemaPostgresDialect({ pool }) });
  const where = new URL(url);
  // As PostgreSQL picked it at start, or else as the URL's options name it (`-c search_path=…`).
  const schema = working ?? schemaOf(url, options.schema);
  return {
    db,
    dialect: 'postgres',
    reads: createReadCache(notices),
    settingsNotices: { onChange: notices.onSettingsChanged, listening: notices.listening },
    roundTrips: () => counter.sent,
    async probe() {
      const tables = await sql<{ name: string }>`
        select table_name as name from information_schema.tables
        where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(db);
      for (const { name } of tables.rows) await sql`select * from ${sql.table(name)} limit 1`.execute(db);
    },
    location: `postgres://${where.host}${where.pathname}${schema ? ` (schema ${schema})` : ''}`,
    close: async () => {
      await notices.close();
      await db.destroy();
    },
  };
}

/**
 * Kysely's PostgreSQL introspector reads every column of every schema in the database and asks
 * `pg_get_serial_sequence` about each, which fails ("schema … does not exist") when another schema
 * is dropped while it runs; the migrator asks it at every start. photosync only ever needs its own
 * schema's tables, so this dialect's introspector reads the current schema alone.
 */
class OwnSchemaPostgresDialect extends PostgresDialect {
  override createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new OwnSchemaIntrospector(db);
  }
}

class OwnSchemaIntrospector implements DatabaseIntrospector {
  constructor(private readonly db: Kysely<any>) {}

  async getSchemas(): Promise<SchemaMetadata[]> {
    const { rows } = await sql<{ name: string }>`select current_schema() as name`.execute(this.db);
    return rows;
  }

  async getTables(): Promise<TableMetadata[]> {
    const { rows } = await sql<{
      schema: string;
      table: string;
      type: string;
      column: string;
      data_type: string;
      nullable: string;
      default_value: string | null;
      identity: string;
    }>`
      select t.table_schema as schema, t.table_name as table, t.table_type as type,
             c.column_name as column, c.udt_name as data_type, c.is_nullable as nullable,
             c.column_default as default_value, c.is_identity as identity
      from information_schema.tables t
      join information_schema.columns c on c.table_schema = t.table_schema and c.table_name = t.table_name
      where t.table_schema = current_schema()
      order by t.table_name, c.ordinal_position`.execute(this.db);
    const tables = new Map<string, TableMetadata & { columns: TableMetadata['columns'][number][] }>();
    for (const row of rows) {
      let table = tables.get(row.table);
      if (!table) {
        table = { name: row.table, schema: row.schema, isView: row.type === 'VIEW', columns: [] };
        tables.set(row.table, table);
      }
      table.columns.push({
        name: row.column,
        dataType: row.data_type,
        isNullable: row.nullable === 'YES',
        hasDefaultValue: row.default_value !== null,
        isAutoIncrementing: row.identity === 'YES' || (row.default_value ?? '').startsWith('nextval('),
      });
    }
    return [...tables.values()];
  }

  async getMetadata(): Promise<DatabaseMetadata> {
    return { tables: await this.getTables() };
  }
}

class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

/** The newest change to the database this version of photosync makes. */
export const LATEST_MIGRATION = Object.keys(migrations).sort().at(-1)!;

/** Of the migrations a database had applied, those this version does not know: a newer photosync's. */
export function migrationsUnknownHere(applied: readonly string[]): string[] {
  return applied.filter((name) => !Object.hasOwn(migrations, name)).sort();
}

/** Says what the changes a newer photosync made are, in a sentence that ends with what to do. */
export function newerVersionMessage(what: string, unknown: readonly string[]): string {
  return (
    `${what} by a newer version of photosync: it has ${unknown.length === 1 ? 'a change' : `${unknown.length} changes`} ` +
    `this version does not know (${unknown.at(-1)}; this version's newest is ${LATEST_MIGRATION}). ` +
    'Use that version of photosync or a newer one; this one would misread its data.'
  );
}

export class NewerDatabaseError extends Error {
  override name = 'NewerDatabaseError';
}

/** PostgreSQL: none of the search_path's schemas exists, so there is nowhere to create the tables. */
export class NoSchemaError extends Error {
  override name = 'NoSchemaError';
}

export async function migrateToLatest(db: Kysely<Database>): Promise<void> {
  // Kysely looks for its bookkeeping tables in every schema unless told which one; with another
  // photosync schema in the same database it would find theirs and never create ours.
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  const schema = postgres
    ? ((await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db)).rows[0]?.schema ??
      undefined)
    : undefined;
  if (postgres && schema === undefined) {
    // PostgreSQL's own words would be "no schema has been selected to create in".
    const path = (await sql<{ path: string }>`select current_setting('search_path') as path`.execute(db)).rows[0]?.path;
    throw new NoSchemaError(
      `No schema of DATABASE_URL's search_path (${path ?? ''}) exists in this database. Create it (create schema …) ` +
        'or name one that exists in the URL (options=-c search_path=<schema>).',
    );
  }
  // A database a newer photosync has changed is not this version's to open (Kysely would call it
  // "corrupted migrations").
  const present = postgres
    ? sql`select 1 as one from information_schema.tables where table_schema = ${schema} and table_name = 'photosync_migrations'`
    : sql`select 1 as one from sqlite_master where type = 'table' and name = 'photosync_migrations'`;
  if ((await present.execute(db)).rows.length > 0) {
    const applied = await sql<{ name: string }>`select name from photosync_migrations`.execute(db);
    const unknown = migrationsUnknownHere(applied.rows.map((row) => row.name));
    if (unknown.length > 0) throw new NewerDatabaseError(newerVersionMessage('This database was upgraded', unknown));
  }
  const migrator = new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(migrations) },
    migrationTableName: 'photosync_migrations',
    migrationLockTableName: 'photosync_migrations_lock',
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    const cause = error instanceof Error ? error : new Error(String(error));
    const which = failed ? `Database migration ${failed.migrationName}` : 'Database migration';
    throw new Error(`${which} failed: ${cause.message}`, { cause });
  }
}
