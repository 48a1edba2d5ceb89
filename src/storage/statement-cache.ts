import type SQLite from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

/**
 * The SQLite database as Kysely sees it, with prepared statements kept by their SQL text. Kysely
 * prepares every query afresh, and on the serving path preparing cost more than running the query.
 * Kysely runs one query at a time on a connection and `all`/`run` finish synchronously, so a cached
 * statement is never used twice at once; one still being iterated (`busy`) is never handed out.
 */
export function withStatementCache(database: SQLite.Database, capacity = 256): SqliteDatabase {
  const statements = new Map<string, SQLite.Statement>();
  return {
    close: () => {
      statements.clear();
      database.close();
    },
    prepare(sql) {
      const cached = statements.get(sql);
      if (cached && !cached.busy) {
        // Most recently used last, so the first entry is always the one to evict.
        statements.delete(sql);
        statements.set(sql, cached);
        return cached;
      }
      const statement = database.prepare(sql);
      if (cached) return statement; // the cached one is busy: this one is used once and dropped
      statements.set(sql, statement);
      if (statements.size > capacity) statements.delete(statements.keys().next().value!);
      return statement;
    },
  };
}
