import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
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
  type DialectAdapter,
  type Driver,
  type Migration,
  type Transaction,
} from 'kysely';
import pg from 'pg';
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
import * as adminActionOrder from './migrations/2026-12-04-01-admin-action-order.js';
import * as adminSearch from './migrations/2026-12-04-02-admin-search.js';
import { createReadCache, type ReadCache } from './read-cache.js';
import { withStatementCache } from './statement-cache.js';

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
  /** Per-request reads kept until the next commit (SQLite); reads through on PostgreSQL. */
  reads: ReadCache;
  close(): Promise<void>;
}

const migrations: Record<string, Migration> = {
  '2026-11-25-01-initial': initial,
  '2026-11-26-01-apps': apps,
  '2026-11-26-02-admin': admin,
  '2026-11-30-01-in-step-before-failing': inStepBeforeFailing,
  '2026-11-30-02-m365': m365,
  '2026-12-01-01-entra': entra,
  '2026-12-04-01-admin-action-order': adminActionOrder,
  '2026-12-04-02-admin-search': adminSearch,
};

export interface OpenDatabaseOptions {
  databaseUrl?: string | undefined;
  /** Directory for the SQLite file when no databaseUrl is given. */
  dataDir: string;
  /** PostgreSQL schema to use (tests isolate themselves in their own schema). */
  schema?: string;
  poolSize?: number;
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  const handle = options.databaseUrl ? openPostgres(options.databaseUrl, options) : openSqlite(options.dataDir);
  try {
    await migrateToLatest(handle.db);
  } catch (error) {
    await handle.close();
    throw error;
  }
  return handle;
}

function openSqlite(dataDir: string): DatabaseHandle {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'photosync.sqlite');
  const database = new SQLite(file);
  // WAL lets readers in other processes (the CLI) work while the server writes; busy_timeout makes
  // a second process wait for the write lock instead of failing at once.
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('busy_timeout = 5000');
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(database) }) });
  // data_version moves when another connection (another process) commits, total_changes() when
  // this one changes a row: together they move on every commit to the file.
  const dataVersion = database.prepare('PRAGMA data_version').pluck();
  const totalChanges = database.prepare('SELECT total_changes()').pluck();
  const reads = createReadCache({
    local: () => totalChanges.get() as number,
    remote: () => dataVersion.get() as number,
  });
  return { db, dialect: 'sqlite', location: file, reads, close: () => db.destroy() };
}

/**
 * Transactions that take SQLite's write lock at BEGIN. A deferred transaction that reads first
 * fails at once with "database is locked" when another process wrote in between, without waiting
 * for busy_timeout; an immediate one waits its turn. Migrations run in one such transaction
 * (SQLite's DDL is transactional), so two processes starting on a new file migrate it once.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }

  override createDriver(): Driver {
    const driver = super.createDriver() as SqliteDriver;
    driver.beginTransaction = async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    return driver;
  }
}

// int8 (bigint) columns hold epoch milliseconds, well inside Number's exact range.
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

function openPostgres(url: string, options: OpenDatabaseOptions): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    types: pgTypes as pg.CustomTypesConfig,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const where = new URL(url);
  return {
    db,
    dialect: 'postgres',
    reads: createReadCache(undefined),
    location: `postgres://${where.host}${where.pathname}${options.schema ? ` (schema ${options.schema})` : ''}`,
    close: () => db.destroy(),
  };
}

class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

export async function migrateToLatest(db: Kysely<Database>): Promise<void> {
  // Kysely looks for its bookkeeping tables in every schema unless told which one; with another
  // photosync schema in the same database it would find theirs and never create ours.
  const schema =
    db.getExecutor().adapter instanceof PostgresAdapter
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema
      : undefined;
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
