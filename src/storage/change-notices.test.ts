import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { listenForChanges, topicsChangedBy } from './change-notices.js';

describe('topicsChangedBy', () => {
  it('names the topic of the rows a statement writes, and none for a read', () => {
    expect(topicsChangedBy('update "directory_users" set "enabled" = $1 where "id" = $2')).toBe(1);
    expect(topicsChangedBy('delete from "directory_sessions" where "id_hash" = $1')).toBe(1);
    expect(topicsChangedBy('insert into "site_renditions" ("user_id") values ($1)')).toBe(2);
    // A profile is one of the sync's inputs (4); its picture timestamp is the pictures' too (2).
    expect(topicsChangedBy('update "site_profiles" set "picture_timestamp" = $1')).toBe(6);
    expect(topicsChangedBy('update "site_profiles" set "last_checked_at" = $1')).toBe(4);
    expect(topicsChangedBy('insert into "mail_photos" ("user_id") values ($1)')).toBe(4);
    expect(topicsChangedBy('update "sync_state" set "retry_after" = $1')).toBe(4);
    expect(topicsChangedBy('insert into "mail_photo_renditions" ("user_id") values ($1)')).toBe(0);
    expect(
      topicsChangedBy('with "old" as (select "blob_key" from "site_renditions") delete from "directory_tokens"'),
    ).toBe(3);
    expect(topicsChangedBy('select * from "directory_users" join "site_renditions" on true')).toBe(0);
    expect(topicsChangedBy('update "directory_users_search" set "x" = 1')).toBe(0);
    expect(topicsChangedBy('commit')).toBe(0);
    // A user's removal takes their profile and renditions with it.
    expect(topicsChangedBy('delete from "directory_users" where "id" = $1')).toBe(7);
  });
});

describe('listenForChanges: this process’s own writes', () => {
  /** A driver whose server never answers: the counters of this process's own writes still move. */
  class Unreachable {
    on() {}
    removeAllListeners() {}
    connect() {
      return Promise.reject(new Error('no server here'));
    }
    end() {
      return Promise.resolve();
    }
  }
  const open = () =>
    listenForChanges({ Client: Unreachable } as unknown as typeof pg, {
      clientConfig: {},
      isOwnConnection: () => false,
      retryMs: 60_000,
    });
  /** A connection whose transaction status is as PostgreSQL last said. */
  const connection = (status: 'I' | 'T' | 'E' = 'I') => ({
    status,
    getTransactionStatus() {
      return this.status;
    },
  });
  const counts = (notices: ReturnType<typeof open>) => [notices.local(0), notices.local(1), notices.local(2)];

  it('counts a write by its topic when it returns, and again when its transaction ends', async () => {
    const notices = open();
    const single = connection();
    notices.statementDone('update "directory_users" set "enabled" = $1', single);
    expect(counts(notices)).toEqual([1, 0, 0]);

    const tx = connection('T');
    notices.statementDone('begin', tx);
    notices.statementDone('insert into "site_renditions" ("user_id") values ($1)', tx);
    notices.statementDone('select "etag" from "site_renditions"', tx);
    expect(counts(notices)).toEqual([1, 1, 0]);
    tx.status = 'I';
    notices.statementDone('commit', tx);
    expect(counts(notices)).toEqual([1, 2, 0]);
    // The next transaction on the same connection starts with nothing written.
    tx.status = 'T';
    notices.statementDone('begin', tx);
    tx.status = 'I';
    notices.statementDone('commit', tx);
    expect(counts(notices)).toEqual([1, 2, 0]);

    // A rollback, or a failed transaction, ends it too (counted: nothing proves it wrote nothing).
    const failed = connection('T');
    notices.statementDone('delete from "directory_sessions" where "id_hash" = $1', failed);
    failed.status = 'E';
    notices.statementDone('insert into "x" values (1)', failed);
    failed.status = 'I';
    notices.statementDone('rollback', failed);
    expect(counts(notices)).toEqual([3, 2, 0]);

    // A user's removal takes their pictures with it.
    notices.statementDone('delete from "directory_users" where "id" = $1', single);
    expect(counts(notices)).toEqual([4, 3, 1]);
    await notices.close();
  });

  it('tells of a lost connection once, not at every try while the server stays away', async () => {
    const told: Error[] = [];
    const notices = listenForChanges({ Client: Unreachable } as unknown as typeof pg, {
      clientConfig: {},
      isOwnConnection: () => false,
      retryMs: 5,
      onError: (error) => told.push(error),
    });
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(told.map((error) => error.message)).toEqual(['no server here']);
    await notices.close();
  });

  it('tells nothing of a first attempt that fails until the next fails too (a command ends before)', async () => {
    const told: Error[] = [];
    const notices = listenForChanges({ Client: Unreachable } as unknown as typeof pg, {
      clientConfig: {},
      isOwnConnection: () => false,
      retryMs: 10_000,
      onError: (error) => told.push(error),
    });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(told).toEqual([]);
    await notices.close();
  });

  it('vouches for nothing kept while it does not listen', async () => {
    const notices = open();
    expect(notices.remote(0)).not.toBe(notices.remote(0));
    expect(notices.remote(1)).not.toBe(notices.remote(1));
    expect(notices.remote(2)).not.toBe(notices.remote(2));
    await notices.close();
  });
});
