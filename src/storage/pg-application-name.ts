// Every connection photosync opens to PostgreSQL names itself (`application_name`, seen in
// pg_stat_activity) with the schema it works in, so a restore can tell whether a server (or another
// command) still uses the schema it is about to replace.

/** The schema a connection works in, as its URL or options give it ('' when neither does). */
export function schemaOf(url: string, schema?: string): string {
  if (schema) return schema;
  const options = new URL(url).searchParams.get('options') ?? '';
  return /(?:^|\s)-c\s*search_path=([^\s,]+)/.exec(options)?.[1] ?? '';
}

/** The name photosync's connections to this schema carry (PostgreSQL keeps 63 bytes of it). */
export function photosyncApplicationName(url: string, schema?: string): string {
  return `photosync ${schemaOf(url, schema)}`.trim().slice(0, 63);
}
