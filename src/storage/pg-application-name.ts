import { searchPathNames } from './pg-search-path.js';

// Every connection photosync opens to PostgreSQL names itself (`application_name`, seen in
// pg_stat_activity) with the schema it works in, so a restore can tell whether a server (or another
// command) still uses the schema it is about to replace.

/**
 * The schema a connection works in, as its URL or options give it ('' when neither does): the first
 * name of the search_path in the URL's options, spelt as PostgreSQL reads it, so that `T_ABC` and
 * `t_abc` name one schema.
 */
export function schemaOf(url: string, schema?: string): string {
  if (schema) return schema;
  const options = new URL(url).searchParams.get('options') ?? '';
  // libpq splits options at spaces not escaped with a backslash.
  const value = /(?:^|\s)-c\s*search_path=((?:\\.|[^\s\\])+)/.exec(options)?.[1];
  if (value === undefined) return '';
  return searchPathNames(value.replace(/\\(.)/g, '$1')).find((name) => name !== '$user') ?? '';
}

/** The name photosync's connections to this schema carry (PostgreSQL keeps 63 bytes of it). */
export function photosyncApplicationName(url: string, schema?: string): string {
  return `photosync ${schemaOf(url, schema)}`.trim().slice(0, 63);
}
