// What Graph's and SharePoint's `$filter` parsers share.

/** Splits a `$filter` at ` and ` (or ` or `) outside quoted strings. */
export function splitClauses(text: string, joiner: 'and' | 'or'): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  const separator = new RegExp(`^\\s+${joiner}\\s+`, 'i');
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "'") quoted = !quoted;
    if (quoted) continue;
    const rest = separator.exec(text.slice(i));
    if (rest) {
      parts.push(text.slice(start, i));
      start = i + rest[0].length;
      i = start - 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}
