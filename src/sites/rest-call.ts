import { sharePointErrors } from './rest-errors.js';

// The method calls in SharePoint REST addresses: `GetPropertiesFor(accountName=@v)?@v='…'`.

const badQuery = sharePointErrors.badQuery;

/** `GetPropertiesFor(accountName=@v)` → name and arguments (keys lower-cased, values as written). */
export function parseCall(call: string): { name: string; args: Map<string, string> } {
  const match = /^([A-Za-z]+)(?:\((.*)\))?$/s.exec(call);
  if (!match?.[1]) throw badQuery(`"${call}" is not a method call.`);
  const args = new Map<string, string>();
  const text = match[2] ?? '';
  // Arguments are name=value, separated by commas outside quotes; '' is a quote inside a quoted value.
  const pattern = /\s*([A-Za-z]+)\s*=\s*('(?:[^']|'')*'|@[A-Za-z0-9_]+)\s*(?:,|$)/gy;
  let consumed = 0;
  for (let m = pattern.exec(text); m && m[0] !== ''; m = pattern.exec(text)) {
    args.set(m[1]!.toLowerCase(), m[2]!);
    consumed = pattern.lastIndex;
  }
  if (consumed !== text.length) throw badQuery(`The arguments of ${match[1]} are not valid: ${text}.`);
  return { name: match[1], args };
}

/** A literal 'value' or an @alias whose value is in the query string (itself a quoted literal). */
export function argumentValue(raw: string, query: Record<string, unknown>): string {
  let literal = raw;
  if (raw.startsWith('@')) {
    const value = query[raw];
    if (typeof value !== 'string') throw badQuery(`The parameter alias ${raw} has no value in the query string.`);
    literal = value.trim();
  }
  if (literal.length >= 2 && literal.startsWith("'") && literal.endsWith("'"))
    return literal.slice(1, -1).replace(/''/g, "'");
  throw badQuery(`${literal} is not a quoted string literal.`);
}
