import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { DatabaseHandle } from '../storage/database.js';

/**
 * Counts failed sign-ins in a window, per address and per address and account, in the database
 * (`directory_sign_in_failures`): every instance on one database, and every way of signing in
 * with a password (the sign-in form, which the authorize page uses too, and the token endpoint's
 * password grant), count into the same rows. An attempt is counted when it starts, by one atomic
 * upsert that returns the new count, so parallel guesses cannot all slip through while passwords
 * are being checked, even from several instances; it is forgiven when it succeeds. There is
 * deliberately no limit per account from every address: anyone could then lock anyone out.
 *
 * A window begins with the first failure after the previous one ended and lasts `windowMs`; once
 * a key has `limit` failures in it, attempts wait until it ends.
 */
export interface ThrottleLimits {
  windowMs: number;
  /** Failures from one address for one account. */
  perAccount: number;
  /** Failures from one address over all accounts (password spraying); an office shares it. */
  perAddress: number;
}

/** The limits of every password sign-in. */
export const SIGN_IN_LIMITS: ThrottleLimits = { windowMs: 15 * 60_000, perAccount: 5, perAddress: 100 };

export interface SignInThrottle {
  /**
   * Counts an attempt as failed until `forgive` says it succeeded, and returns 0; or, when the
   * address or the account from it has had too many failures, counts nothing and returns the
   * milliseconds until another attempt is allowed.
   */
  begin(address: string, upn: string, now?: number): Promise<number>;
  forgive(address: string, upn: string): Promise<void>;
}

/** Rows whose window ended are removed now and then, so guesses at ever new accounts cannot grow the table without end. */
const PURGE_EVERY = 500;

export interface ThrottleOptions {
  /** Attempts between two purges of rows whose window ended. */
  purgeEvery?: number;
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex');

export function createSignInThrottle(
  database: Pick<DatabaseHandle, 'db' | 'dialect'>,
  limits: ThrottleLimits = SIGN_IN_LIMITS,
  { purgeEvery = PURGE_EVERY }: ThrottleOptions = {},
): SignInThrottle {
  const { db } = database;
  let begun = 0;
  const keyed = (address: string, upn: string) => {
    const account = upn.trim().toLowerCase();
    // In the order of their hashes: the upsert locks the two rows in this order (VALUES order),
    // and every upsert does, so two of them never wait for each other in a cycle.
    return [
      { hash: digest(`a:${address}`), limit: limits.perAddress },
      { hash: digest(`au:${address}:${account}`), limit: limits.perAccount },
    ].sort((a, b) => (a.hash < b.hash ? -1 : 1));
  };

  async function begin(address: string, upn: string, now = Date.now()): Promise<number> {
    const keys = keyed(address, upn);
    const limitOf = new Map(keys.map((k) => [k.hash, k.limit]));
    const over = (rows: ReadonlyArray<{ key_hash: string; window_start: number; failures: number }>, more: number) =>
      Math.max(
        0,
        ...rows
          .filter((r) => r.window_start > now - limits.windowMs && r.failures + more > (limitOf.get(r.key_hash) ?? 0))
          .map((r) => Number(r.window_start) + limits.windowMs - now),
      );
    // A read first, so an address that is already refused writes nothing.
    const current = await db
      .selectFrom('directory_sign_in_failures')
      .select(['key_hash', 'window_start', 'failures'])
      .where(
        'key_hash',
        'in',
        keys.map((k) => k.hash),
      )
      .execute();
    const refused = over(current, 1);
    if (refused > 0) return refused;
    // One statement counts the attempt under both keys, starting a new window where the old one ended.
    const expired = now - limits.windowMs;
    const counted = await db
      .insertInto('directory_sign_in_failures')
      .values(keys.map((k) => ({ key_hash: k.hash, window_start: now, failures: 1 })))
      .onConflict((oc) =>
        oc.column('key_hash').doUpdateSet({
          failures: sql<number>`case when directory_sign_in_failures.window_start <= ${expired} then 1 else directory_sign_in_failures.failures + 1 end`,
          window_start: sql<number>`case when directory_sign_in_failures.window_start <= ${expired} then excluded.window_start else directory_sign_in_failures.window_start end`,
        }),
      )
      .returning(['key_hash', 'window_start', 'failures'])
      .execute();
    if (++begun % purgeEvery === 0) {
      // On PostgreSQL, only rows no attempt holds: a DELETE that waited for a row while holding
      // others it had deleted could close a cycle with an upsert holding that row and waiting for
      // one of those (seen in test/sign-in-throttle.test.ts). Skipped rows go next time.
      await db
        .deleteFrom('directory_sign_in_failures')
        .where('key_hash', 'in', (eb) =>
          eb
            .selectFrom('directory_sign_in_failures')
            .select('key_hash')
            .where('window_start', '<=', expired)
            .$if(database.dialect === 'postgres', (q) => q.forUpdate().skipLocked()),
        )
        .execute();
    }
    // Parallel attempts all passed the read; the counts they got back decide which may go on.
    const late = over(counted, 0);
    // A refused attempt counts nothing, as when the read refused it.
    if (late > 0) await forgive(address, upn);
    return late;
  }

  async function forgive(address: string, upn: string): Promise<void> {
    // One row per statement, in the keys' order: a statement of its own holds one row's lock and
    // waits for none, so it cannot close a cycle with a parallel attempt's upsert. (One UPDATE of
    // both rows locks them in the order of its scan, which PostgreSQL does not promise to be the
    // index's: two instances deadlocked that way.)
    for (const key of keyed(address, upn)) {
      await db
        .updateTable('directory_sign_in_failures')
        .set((eb) => ({ failures: eb('failures', '-', 1) }))
        .where('key_hash', '=', key.hash)
        .where('failures', '>', 0)
        .execute();
    }
  }

  return { begin, forgive };
}

/** Why a password sign-in was refused, as the log names it. */
export type RefusedSignIn = 'wrong_password' | 'throttled' | 'disabled';

/**
 * One log line (info) per refused password sign-in, by the form or the password grant: who was
 * tried, from where, and why; never the password. What a watcher of the log (fail2ban, alerts)
 * counts.
 */
export function logRefusedSignIn(
  log: { info(object: object, message: string): void },
  refused: { upn: string; address: string | undefined; way: 'form' | 'password_grant'; reason: RefusedSignIn },
): void {
  log.info(
    { signIn: { ...refused, upn: refused.upn.slice(0, 256) } },
    `sign-in refused (${refused.reason.replace('_', ' ')}): ${refused.upn.slice(0, 256)} from ${refused.address ?? 'an unknown address'}`,
  );
}
