import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, sqliteFileOf } from './database.js';
import { walIndexChanges } from './wal-index.js';

describe('walIndexChanges', () => {
  let dir: string;
  const open: Array<{ close(): unknown }> = [];
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-wal-index-'));
  });
  afterEach(async () => {
    for (const item of open.splice(0).reverse()) await item.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A connection in WAL mode, as photosync's and the CLI's are. */
  const connect = (file: string) => {
    const database = new SQLite(file);
    database.pragma('journal_mode = WAL');
    open.push(database);
    return database;
  };

  it('moves at every commit of another connection or this one, and only then', () => {
    const file = path.join(dir, 'a.sqlite');
    const mine = connect(file);
    mine.exec('create table t (n integer)');
    const other = connect(file);
    const changes = walIndexChanges(file);
    expect(changes).toBeDefined();
    open.push(changes!);
    const before = changes!.counter();
    other.prepare('select count(*) from t').get();
    mine.prepare('select count(*) from t').get();
    expect(changes!.counter()).toBe(before);
    other.exec('insert into t values (1)');
    const afterOther = changes!.counter();
    expect(afterOther).not.toBe(before);
    expect(changes!.counter()).toBe(afterOther);
    mine.exec('insert into t values (2)');
    expect(changes!.counter()).not.toBe(afterOther);
    // A checkpoint that restarts the log, then a commit: the header moves again.
    const beforeRestart = changes!.counter();
    other.pragma('wal_checkpoint(RESTART)');
    other.exec('insert into t values (3)');
    expect(changes!.counter()).not.toBe(beforeRestart);
  });

  it('reads the header of a database photosync just created, and of none without a log', async () => {
    const handle = await openDatabase({ dataDir: dir });
    open.push(handle);
    const changes = walIndexChanges(sqliteFileOf(dir));
    expect(changes).toBeDefined();
    changes!.close();
    expect(walIndexChanges(path.join(dir, 'missing.sqlite'))).toBeUndefined();
    const rollback = path.join(dir, 'rollback.sqlite');
    const database = new SQLite(rollback);
    open.push(database);
    database.exec('create table t (n integer)');
    expect(walIndexChanges(rollback)).toBeUndefined();
  });

  it('closes once: a second close leaves alone a file opened since under the same number', async () => {
    const handle = await openDatabase({ dataDir: dir });
    const changes = walIndexChanges(sqliteFileOf(dir))!;
    changes.close();
    const other = path.join(dir, 'other.txt');
    fs.writeFileSync(other, 'still open');
    const fd = fs.openSync(other, 'r');
    try {
      changes.close();
      // The database handle closes twice too (a cleanup after an earlier close).
      await handle.close();
      await handle.close();
      const read = Buffer.alloc(10);
      expect(fs.readSync(fd, read, 0, 10, 0)).toBe(10);
      expect(read.toString()).toBe('still open');
    } finally {
      fs.closeSync(fd);
    }
  });

  it('after its close reads nothing, even a file given its number since that looks like a header', async () => {
    const handle = await openDatabase({ dataDir: dir });
    open.push(handle);
    const file = sqliteFileOf(dir);
    const changes = walIndexChanges(file)!;
    const before = changes.counter();
    changes.close();
    const copy = path.join(dir, 'header-copy');
    fs.writeFileSync(copy, fs.readFileSync(`${file}-shm`).subarray(0, 96));
    const fd = fs.openSync(copy, 'r');
    try {
      // The same header each time: reading it would say "unchanged"; after close every answer is "changed".
      expect(changes.counter()).toBe(before + 1);
      expect(changes.counter()).toBe(before + 2);
    } finally {
      fs.closeSync(fd);
    }
  });
});
