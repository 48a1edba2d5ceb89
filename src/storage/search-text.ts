import { invalidInput } from '../errors.js';

// Any part of a name or UPN, as the admin console's tables search them: through trigram indexes
// (SQLite's FTS5 trigram tokenizer, PostgreSQL's pg_trgm) for three characters or more, and at the
// start of a name or UPN (their lower-case indexes) for fewer.

/** Searches this long or longer match anywhere in a name or UPN (trigram indexes); shorter, at the start. */
export const MIN_SUBSTRING = 3;

/**
 * The search as the tables are asked it: trimmed, in lower case ('' for none). A control
 * character is refused in words: no name holds one, and neither database's index takes a NUL.
 */
export function searchText(raw: string | undefined): string {
  const search = raw?.trim().toLowerCase() ?? '';
  if (/\p{Cc}/u.test(search))
    throw invalidInput('A search cannot hold control characters such as tabs or line breaks.');
  return search;
}

/** LIKE '%…%' with the text's own %, _ and \ taken literally (PostgreSQL's default escape is \). */
export const likeAnywhere = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** An FTS5 phrase: with the trigram tokenizer, the text anywhere in the indexed column. */
export const ftsPhrase = (text: string) => `"${text.replace(/"/g, '""')}"`;
