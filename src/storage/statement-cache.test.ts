import SQLite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withStatementCache } from './statement-cache.js';

describe('withStatementCache', () => {
  let database: SQLite.Database;
  beforeEach(() => {
    database = new SQLite(':memory:');
    database.exec('create table t (n integer); insert into t values (1), (2), (3)');
  });
  afterEach(() => {
    if (database.open) database.close();
  });

  it('prepares a query once and gives back the same statement, with its parameters per call', () => {
    const cached = withStatementCache(database);
    const first = cached.prepare('select n from t where n >= ?');
    expect(cached.prepare('select n from t where n >= ?')).toBe(first);
    expect(first.all([2])).toEqual([{ n: 2 }, { n: 3 }]);
    expect(cached.prepare('select n from t where n >= ?').all([3])).toEqual([{ n: 3 }]);
  });

  it('never hands out a statement that is still being iterated', () => {
    const cached = withStatementCache(database);
    const sql = 'select n from t order by n';
    const outer = cached.prepare(sql).iterate([]);
    expect(outer.next().value).toEqual({ n: 1 });
    const inner = cached.prepare(sql);
    expect(inner.all([])).toHaveLength(3);
    expect([...outer]).toEqual([{ n: 2 }, { n: 3 }]);
  });

  it('keeps at most its capacity, dropping the least recently used', () => {
    const cached = withStatementCache(database, 2);
    const a = cached.prepare('select 1');
    const b = cached.prepare('select 2');
    expect(cached.prepare('select 1')).toBe(a); // now "select 2" is the oldest
    cached.prepare('select 3');
    expect(cached.prepare('select 1')).toBe(a);
    expect(cached.prepare('select 2')).not.toBe(b);
  });

  it('closes the database', () => {
    withStatementCache(database).close();
    expect(database.open).toBe(false);
  });
});
