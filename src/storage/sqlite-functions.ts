import type SQLite from 'better-sqlite3';

/**
 * SQLite's own lower() folds the case of A–Z only ("Ülle Õunapuu" stays "Ülle õunapuu"), while the
 * searches lower what is typed with JavaScript ("ülle õunapuu"), as PostgreSQL's lower() does. Every
 * connection photosync opens replaces it with JavaScript's, so the stored lower-case names, the
 * indexes on lower(…) and the searches agree for every letter. Deterministic, so indexes may use it.
 */
export function withUnicodeLower(database: SQLite.Database): SQLite.Database {
  database.function('lower', { deterministic: true }, (value: unknown) => {
    if (typeof value === 'string') return value.toLowerCase();
    if (typeof value === 'number' || typeof value === 'bigint') return String(value);
    return value as null | Buffer;
  });
  return database;
}
