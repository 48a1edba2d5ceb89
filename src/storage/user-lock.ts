import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql, type Kysely } from 'kysely';
import type { Database, Dialect } from './database.js';

/**
 * Mutual exclusion per user, within this process and across every process on the same database:
 * at most one writer of a user's site pictures at a time. Waiters queue; nobody is turned away
 * unless the wait exceeds `waitMs`.
 */
export interface UserLock {
  run<T>(userId: string, fn: () => Promise<T>): Promise<T>;
}

export class LockTimeoutError extends Error {
  constructor(userId: string) {
    super(`Another sync of user ${userId} is still running; try again in a moment.`);
    this.name = 'LockTimeoutError';
  }
}

export interface UserLockOptions {
  /** PostgreSQL: advisory locks held at once; keep it below the pool size, since each holds a connection. */
  maxHeld?: number;
  /** SQLite: how long a lease lives if its process dies holding it. */
  leaseMs?: number;
  waitMs?: number;
  /** Called when a caller finds the user's lock held by another process and starts waiting. */
  onWait?: (userId: string) => void;
}

export function createUserLock(db: Kysely<Database>, dialect: Dialect, options: UserLockOptions = {}): UserLock {
  const local = createLocalLock();
  const shared =
    dialect === 'postgres'
      ? advisoryLock(db, options.maxHeld ?? 4, options.waitMs ?? 30_000, options.onWait)
      : leaseLock(db, options.leaseMs ?? 30_000, options.waitMs ?? 30_000, options.onWait);
  return { run: (userId, fn) => local.run(userId, () => shared.run(userId, fn)) };
}

/** In-process queue per key: callers in this process never race each other for the shared lock. */
export function createLocalLock(): UserLock {
  const tails = new Map<string, Promise<void>>();
  return {
    async run(key, fn) {
      const previous = tails.get(key) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((resolve) => (release = resolve));
      const tail = previous.then(() => mine);
      tails.set(key, tail);
      await previous;
      try {
        return await fn();
      } finally {
        release();
        if (tails.get(key) === tail) tails.delete(key);
      }
    },
  };
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
): UserLock {
  const slots = createSemaphore(maxHeld);
  return {
    async run(userId, fn) {
      const key = `photosync:user:${userId}`;
      const deadline = Date.now() + waitMs;
      if (!(await slots.acquire(waitMs))) throw new LockTimeoutError(userId);
      try {
        return await db.connection().execute(async (connection) => {
          // Uncontended (the common case) in one round trip; otherwise wait, bounded by lock_timeout.
          const { rows } = await sql<{
            locked: boolean;
          }>`select pg_try_advisory_lock(hashtextextended(${key}, 0)) as locked`.execute(connection);
          if (!rows[0]?.locked) {
            onWait?.(userId);
            try {
              const remaining = Math.max(1, deadline - Date.now());
              await sql`select set_config('lock_timeout', ${String(remaining)}, false)`.execute(connection);
              await sql`select pg_advisory_lock(hashtextextended(${key}, 0))`.execute(connection);
            } catch (error) {
              if ((error as { code?: string }).code === '55P03') throw new LockTimeoutError(userId);
              throw error;
            } finally {
              await sql`select set_config('lock_timeout', '0', false)`.execute(connection);
            }
          }
          try {
            return await fn();
          } finally {
            await sql`select pg_advisory_unlock(hashtextextended(${key}, 0))`.execute(connection);
          }
        });
      } finally {
        slots.release();
      }
    },
  };
}

/**
 * SQLite processes share only the file: a lease row that expires if its holder dies. A holder on
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
  return {
    async run(userId, fn) {
      const deadline = Date.now() + waitMs;
      let pause = 5;
      for (let attempt = 0; !(await tryAcquire(userId)); attempt++) {
        if (attempt === 0) onWait?.(userId);
        if (Date.now() > deadline) throw new LockTimeoutError(userId);
        await sleep(pause);
        pause = Math.min(pause * 2, 100);
      }
      try {
        return await fn();
      } finally {
        await db.deleteFrom('sync_leases').where('user_id', '=', userId).where('holder', '=', holder).execute();
      }
    },
  };
}

/** True when the holder ran on this machine and its process no longer exists. */
export function holderIsGone(holder: string): boolean {
  const [host, pid] = holder.split(':');
  if (host !== os.hostname() || !pid) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
