import type { Db } from './database.js';

/**
 * `run` in one transaction: the caller's when `db` is one already (so a change and its audit entry
 * commit together), a new one otherwise.
 */
export function inTransaction<T>(db: Db, run: (trx: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}
