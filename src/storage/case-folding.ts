import { sql } from 'kysely';
import type { Db } from './database.js';

/**
 * Whether the database's lower() folds letters beyond A–Z, as the searches' JavaScript does. A
 * PostgreSQL database made with the C locale (`--locale=C`, `--no-locale`) folds A–Z only, so the
 * console's search and Graph's $filter miss names such as "Ülle Õunapuu"; SQLite's connections
 * have photosync's own lower() (./sqlite-functions.ts).
 */
export async function caseFoldingProblem(db: Db): Promise<string | undefined> {
  const { rows } = await sql<{ folded: string; ctype: string | null }>`SELECT lower('ÜÕ') AS folded,
    (SELECT datctype FROM pg_database WHERE datname = current_database()) AS ctype`.execute(db);
  const row = rows[0];
  if (!row || row.folded === 'üõ') return undefined;
  return (
    `This PostgreSQL database's locale (LC_CTYPE ${row.ctype ?? 'unknown'}) lower-cases A–Z only: ` +
    'the console’s search and Graph’s $filter will miss names such as "Ülle Õunapuu". Create the database ' +
    "with a UTF-8 locale (e.g. CREATE DATABASE photosync TEMPLATE template0 LOCALE 'C.UTF-8') and restore a backup into it."
  );
}
