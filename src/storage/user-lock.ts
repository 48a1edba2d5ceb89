import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { CompiledQuery, sql, type Kysely } from 'kysely';
import type { Database, Dialect } from './database.js';
import { processIsRunning } from './running-process.js';

/**
 * Mutual exclusion per user, within this process and across every process on the same database:
 * at most one writer of a user's site pictures at a time. Waiters queue; nobody is turned away
 * unless the wait exceeds `waitMs`.
 */
export interface UserLock {
  run<T>(userId: string, fn: () => Promise<T>): Promise<T>;
  /**
   * `run`, with `read`'s rows as they are once the lock is held (every commit made before it was
   * taken is seen). On PostgreSQL the lock and the read are one round trip when nobody else holds
   * the lock; there the rows pass through JSON (a bytea column would arrive as `\x…` hex text,
   * twice its size, so read bytes apart). `read` takes one parameter, a string.
   */
  runReading<Row, T>(userId: string, read: CompiledQuery<Row>, fn: (rows: Row[]) => Promise<T>): Promise<T>;
  /**
   * PostgreSQL only: `read`'s rows, and the lock only when they say the work will need it (the
   * first row's `needs_lock`), in one round trip. Without it, `{ held: false, rows }` (nothing is
   * held, `fn` does not run); with it, `fn` runs under the lock on rows read once it was held, as
   * in `runReading`. `read` may name `$2`, a boolean: true when it runs under the lock. Absent
   * where a round trip costs nothing (SQLite), and answered by `runReading`'s way when every
   * slot is taken.
   */
  readOrLock?<Row, T>(
    userId: string,
    read: CompiledQuery<Row>,
    fn: (rows: Row[]) => Promise<T>,
  ): Promise<{ held: false; rows: Row[] } | { held: true; value: T }>;
}

/** The wait for the lock ran out: another sync of the user held it, or this process had too many waiting. */
export class LockTimeoutError extends Error {
  constructor(readonly reason: 'held' | 'slots' = 'held') {
    super(
      reason === 'held'
        ? 'Another sync of this user was still running; try again in a moment.'
        : 'This server had too many syncs running at once; try again in a moment.',
    );
    this.name = 'LockTimeoutError';
  }
}

export interface UserLockOptions {
  /** PostgreSQL: advisory locks held at once; keep it below the pool size, since each holds a connection. */
  maxHeld?: number;
  /** SQLite: how long a lease lives if its process dies or stops holding it (renewed while held). */
  leaseMs?: number;
  waitMs?: number;
  /** Called when a caller finds the user's lock held by another process and starts waiting. */
  onWait?: (userId: string) => void;
}

export function createUserLock(db: Kysely<Database>, dialect: Dialect, options: UserLockOptions = {}): UserLock {
  const waitMs = options.waitMs ?? 30_000;
  const local = createLocalLock();
  const shared =
    dialect === 'postgres'
      ? advisoryLock(db, options.maxHeld ?? 4, waitMs, options.onWait)
      : leaseLock(db, options.leaseMs ?? 30_000, waitMs, options.onWait);
  // This process's callers for one user wait in line for each other, each at most `waitMs` for
  // its turn: behind one that waits on a holder elsewhere, they give up with it, not one after
  // another (four requests stuck behind a stopped process are answered in 30 s, not 30, 60, 90, 120).
  const lock: UserLock = {
    run: (userId, fn) => answerBeforeRelease((inner) => local.run(userId, () => shared.run(userId, inner), waitMs), fn),
    runReading: (userId, read, fn) =>
      answerBeforeRelease((inner) => local.run(userId, () => shared.runReading(userId, read, inner), waitMs), fn),
  };
  const readOrLock = shared.readOrLock;
  if (readOrLock) {
    lock.readOrLock = <Row, T>(userId: string, read: CompiledQuery<Row>, fn: (rows: Row[]) => Promise<T>) =>
      new Promise<{ held: false; rows: Row[] } | { held: true; value: T }>((resolve, reject) => {
        // As `run`: `fn`'s result is answered before the lock's release; a read that took no lock, as it ends.
        let settled = false;
        local
          .run(
            userId,
            () =>
              readOrLock(userId, read, async (rows) => {
                try {
                  resolve({ held: true, value: await fn(rows) });
                } catch (error) {
                  reject(error);
                } finally {
                  settled = true;
                }
              }),
            waitMs,
          )
          .then(
            (got) => {
              if (!got.held) resolve(got);
            },
            (error: unknown) => {
              if (!settled) reject(error);
            },
          );
      });
  }
  return lock;
}

/**
 * The same mutual exclusion from a lease row on either database, holding no connection while it is
 * held: for work that waits on the network (connect mode's pushes to Microsoft 365, which may sleep
 * on a Retry-After), so it never takes the connections and slots the sync engine's lock needs.
 */
export function createLeaseLock(db: Kysely<Database>, options: UserLockOptions = {}): Pick<UserLock, 'run'> {
  const local = createLocalLock();
  const shared = leaseLock(db, options.leaseMs ?? 30_000, options.waitMs ?? 30_000, options.onWait);
  return { run: (key, fn) => local.run(key, () => shared.run(key, fn)) };
}

/**
 * `fn`'s result as soon as `fn` has finished, while the lock is still being released: the caller
 * goes on (records the attempt, answers) during the release's round trip. What `fn` committed
 * is committed before the release starts, so whoever takes the lock next sees it. This process's
 * next caller for the same user waits for the release itself (the local queue is held until then).
 */
function answerBeforeRelease<T, Args extends unknown[]>(
  hold: (inner: (...args: Args) => Promise<void>) => Promise<void>,
  fn: (...args: Args) => Promise<T>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    hold(async (...args) => {
      try {
        resolve(await fn(...args));
      } catch (error) {
        reject(error);
      } finally {
        settled = true;
      }
    }).catch((error: unknown) => {
      // Taking the lock failed (or timed out) before `fn` ran; a failed release after it is the
      // database's to clean up when the connection ends, and changes nothing `fn` did.
      if (!settled) reject(error);
    });
  });
}

/** In-process queue per key: callers in this process never race each other for the shared lock. */
export function createLocalLock(): {
  /** As UserLock's run; with `waitMs`, a caller whose turn has not come by then gives up (LockTimeoutError). */
  run<T>(key: string, fn: () => Promise<T>, waitMs?: number): Promise<T>;
} {
  const tails = new Map<string, Promise<void>>();
  return {
    async run(key, fn, waitMs) {
      const previous = tails.get(key) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((resolve) => (release = resolve));
      const tail = previous.then(() => mine);
      tails.set(key, tail);
      if (waitMs === undefined) await previous;
      else if (!(await settlesWithin(previous, waitMs))) {
        // Out of the line: whoever comes after still waits for the one ahead (the tail goes on
        // through `previous`), and the line is forgotten once that one is done.
        release();
        void tail.then(() => {
          if (tails.get(key) === tail) tails.delete(key);
        });
        throw new LockTimeoutError();
      }
      try {
        return await fn();
      } finally {
        release();
        if (tails.get(key) === tail) tails.delete(key);
      }
    },
  };
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** At most `size` holders; a waiter gives up (false) after `timeoutMs`. */
function createSemaphore(size: number) {
  let free = size;
  const waiting: Array<() => void> = [];
  return {
    async acquire(timeoutMs: number): Promise<boolean> {
      if (free > 0) {
        free--;
        return true;
      }
      return new Promise<boolean>((resolve) => {
        const grant = () => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(grant), 1);
          resolve(false);
        }, timeoutMs);
        waiting.push(grant);
      });
    },
    /** A slot now, or false at once. */
    tryAcquire(): boolean {
      if (free === 0) return false;
      free--;
      return true;
    },
    release(): void {
      const next = waiting.shift();
      if (next) next();
      else free++;
    },
  };
}

/**
 * A session-level advisory lock on a dedicated connection; PostgreSQL frees it if the process dies.
 * lock_timeout bounds the wait, so a stuck holder elsewhere cannot stall this process's syncs.
 */
function advisoryLock(
  db: Kysely<Database>,
  maxHeld: number,
  waitMs: number,
  onWait: UserLockOptions['onWait'],
): UserLock & Required<Pick<UserLock, 'readOrLock'>> {
  const slots = createSemaphore(maxHeld);
  /**
   * Holds the lock around `fn`. `first` takes it ('locked'), finds it held by someone else
   * ('held': then this waits for it), or finds it not wanted ('free': `fn` does not run, and
   * undefined is returned).
   */
  async function holding<T>(
    userId: string,
    first: (connection: Kysely<Database>, key: string) => Promise<'locked' | 'held' | 'free'>,
    fn: (connection: Kysely<Database>, waited: boolean) => Promise<T>,
    slot: 'wait' | 'taken' = 'wait',
  ): Promise<{ value: T } | undefined> {
    const key = `photosync:user:${userId}`;
    const deadline = Date.now() + waitMs;
    if (slot === 'wait' && !(await slots.acquire(waitMs))) throw new LockTimeoutError('slots');
    try {
      return await db.connection().execute(async (connection) => {
        let found: 'locked' | 'held' | 'free';
        try {
          found = await first(connection, key);
        } catch (error) {
          // The read after the lock failed (a timeout, a cancel, a table locked by a restore). A
          // session's advisory lock outlives the failed statement: free it before the connection
          // goes back to the pool, or this user's syncs would wait on a connection nobody uses.
          await sql`select pg_advisory_unlock_all()`.execute(connection).catch(() => {});
          throw error;
        }
        if (found === 'free') return undefined;
        if (found === 'held') {
          onWait?.(userId);
          try {
            const remaining = Math.max(1, deadline - Date.now());
            await sql`select set_config('lock_timeout', ${String(remaining)}, false)`.execute(connection);
            await sql`select pg_advisory_lock(hashtextextended(${key}, 0))`.execute(connection);
          } catch (error) {
            if ((error as { code?: string }).code === '55P03') throw new LockTimeoutError();
            throw error;
          } finally {
            await sql`select set_config('lock_timeout', '0', false)`.execute(connection);
          }
        }
        try {
          return { value: await fn(connection, found === 'held') };
        } finally {
          await sql`select pg_advisory_unlock(hashtextextended(${key}, 0))`.execute(connection);
        }
      });
    } finally {
      slots.release();
    }
  }
  /** Who holds the lock after a call of photosync_sync_read (migration 2026-12-22-01), and the rows it read. */
  const syncRead = async <Row>(
    connection: Kysely<Database>,
    key: string,
    read: CompiledQuery<Row>,
    lockFirst: boolean,
  ): Promise<{ found: 'locked' | 'held' | 'free'; rows: Row[] }> => {
    if (read.parameters.length !== 1 || typeof read.parameters[0] !== 'string') {
      throw new Error('A read under the lock takes one parameter, a string.');
    }
    const { rows } = await sql<{
      read: { locked: boolean | null; rows: Row[] };
    }>`select photosync_sync_read(${key}, ${read.sql}, ${read.parameters[0]}, ${lockFirst}) as read`.execute(
      connection,
    );
    const answer = rows[0]!.read;
    return {
      found: answer.locked === true ? 'locked' : answer.locked === false ? 'free' : 'held',
      rows: answer.rows,
    };
  };
  /** `read` run by itself, `$2` (when it names it) saying whether the lock is held. */
  const readAlone = async <Row>(on: Kysely<Database>, read: CompiledQuery<Row>, locked: boolean): Promise<Row[]> => {
    const query = /\$2\b/.test(read.sql) ? CompiledQuery.raw(read.sql, [...read.parameters, locked]) : read;
    return (await on.executeQuery(query)).rows as Row[];
  };
  // Uncontended (the common case) in one round trip; otherwise wait, bounded by lock_timeout.
  const tryLock = async (connection: Kysely<Database>, key: string) => {
    const { rows } = await sql<{
      locked: boolean;
    }>`select pg_try_advisory_lock(hashtextextended(${key}, 0)) as locked`.execute(connection);
    return rows[0]?.locked === true ? 'locked' : 'held';
  };
  return {
    run: async (userId, fn) => (await holding(userId, tryLock, () => fn()))!.value,
    async runReading<Row, T>(userId: string, read: CompiledQuery<Row>, fn: (rows: Row[]) => Promise<T>) {
      let rows: Row[] = [];
      const lockAndRead = async (connection: Kysely<Database>, key: string) => {
        const got = await syncRead(connection, key, read, true);
        rows = got.rows;
        return got.found;
      };
      const held = await holding(userId, lockAndRead, async (connection, waited) =>
        fn(waited ? await readAlone(connection, read, true) : rows),
      );
      return held!.value;
    },
    async readOrLock<Row, T>(userId: string, read: CompiledQuery<Row>, fn: (rows: Row[]) => Promise<T>) {
      // Every slot taken: the read alone, and the lock (waiting for a slot) only once it is wanted.
      if (!slots.tryAcquire()) return { held: false, rows: await readAlone(db, read, false) };
      let rows: Row[] = [];
      const readFirst = async (connection: Kysely<Database>, key: string) => {
        const got = await syncRead(connection, key, read, false);
        rows = got.rows;
        return got.found;
      };
      const held = await holding(
        userId,
        readFirst,
        async (connection, waited) => fn(waited ? await readAlone(connection, read, true) : rows),
        'taken',
      );
      return held ? { held: true, value: held.value } : { held: false, rows };
    },
  };
}

/**
 * SQLite processes share only the file: a lease row that expires if its holder dies (PostgreSQL has
 * the same table, for createLeaseLock). A holder on
 * this machine whose process is gone is known dead at once, so a crash costs no waiting here.
 */
function leaseLock(db: Kysely<Database>, leaseMs: number, waitMs: number, onWait: UserLockOptions['onWait']): UserLock {
  const holder = `${os.hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`;
  const tryAcquire = async (userId: string): Promise<boolean> => {
    const now = Date.now();
    await db
      .insertInto('sync_leases')
      .values({ user_id: userId, holder, expires_at: now + leaseMs })
      .onConflict((oc) =>
        oc
          .column('user_id')
          .doUpdateSet({ holder, expires_at: now + leaseMs })
          .where('sync_leases.expires_at', '<', now),
      )
      .execute();
    const row = await db.selectFrom('sync_leases').select('holder').where('user_id', '=', userId).executeTakeFirst();
    if (row?.holder === holder) return true;
    if (row && holderIsGone(row.holder)) {
      await db.deleteFrom('sync_leases').where('user_id', '=', userId).where('holder', '=', row.holder).execute();
    }
    return false;
  };
  const lease: Pick<UserLock, 'run'> = {
    async run(userId, fn) {
      const deadline = Date.now() + waitMs;
      let pause = 5;
      for (let attempt = 0; !(await tryAcquire(userId)); attempt++) {
        if (attempt === 0) onWait?.(userId);
        if (Date.now() > deadline) throw new LockTimeoutError();
        await sleep(pause);
        pause = Math.min(pause * 2, 100);
      }
      // Renewed while `fn` runs (a connect-mode push may wait on Microsoft 365 for longer than a
      // lease), so it expires only when its holder is gone or stuck.
      const renewal = setInterval(
        () => {
          db.updateTable('sync_leases')
            .set({ expires_at: Date.now() + leaseMs })
            .where('user_id', '=', userId)
            .where('holder', '=', holder)
            .execute()
            .catch(() => {});
        },
        Math.max(10, Math.floor(leaseMs / 3)),
      );
      renewal.unref();
      try {
        return await fn();
      } finally {
        clearInterval(renewal);
        await db.deleteFrom('sync_leases').where('user_id', '=', userId).where('holder', '=', holder).execute();
      }
    },
  };
  return {
    run: lease.run,
    // SQLite's statements cost no round trips: the read simply follows the lock.
    runReading: (userId, read, fn) => lease.run(userId, async () => fn((await db.executeQuery(read)).rows)),
  };
}

/** True when the holder ran on this machine and its process no longer exists. */
export function holderIsGone(holder: string): boolean {
  const [host, pid] = holder.split(':');
  if (host !== os.hostname() || !pid) return false;
  return !processIsRunning(Number(pid));
}
