// What Graph's and SharePoint's `$filter` parsers share.

/**
 * Splits a `$filter` at ` and ` (or ` or `) outside quoted strings. A separator is looked for where
 * a run of whitespace starts, so a run is scanned once, not once for each of its characters (a
 * filter of many spaces from anyone must not hold the server for seconds).
 */
export function splitClauses(text: string, joiner: 'and' | 'or'): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  const separator = new RegExp(`\\s+${joiner}\\s+`, 'iy');
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "'") quoted = !quoted;
    if (quoted || !WHITESPACE.test(text[i]!) || (i > 0 && WHITESPACE.test(text[i - 1]!))) continue;
    separator.lastIndex = i;
    const rest = separator.exec(text);
    if (rest) {
      parts.push(text.slice(start, i));
      start = i + rest[0].length;
      i = start - 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

const WHITESPACE = /\s/;
