import type SQLite from 'better-sqlite3';

/**
 * SQLite's own lower() folds the case of A–Z only ("Ülle Õunapuu" stays "Ülle õunapuu"), while the
 * searches lower what is typed with JavaScript ("ülle õunapuu"), as PostgreSQL's lower() does. Every
 * connection photosync opens replaces it with JavaScript's, so the stored lower-case names and the
 * searches agree for every letter. No index is built on lower() itself: another program's
 * connection has SQLite's own (see the 2026-12-16-02 migration).
 */
export function withUnicodeLower(database: SQLite.Database): SQLite.Database {
  for (const name of ['lower', PHOTOSYNC_LOWER]) database.function(name, { deterministic: true }, unicodeLower);
  return database;
}

/**
 * The same under a name of photosync's own, for the triggers that keep lower-case columns: a
 * program without it (the sqlite3 shell) is refused such writes ("no such function") rather than
 * storing SQLite's ASCII-only folding where photosync searches.
 */
export const PHOTOSYNC_LOWER = 'photosync_lower';

function unicodeLower(value: unknown) {
  if (typeof value === 'string') return value.toLowerCase();
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return value as null | Buffer;
}
