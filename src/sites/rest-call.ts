import { sharePointErrors } from './rest-errors.js';

// The method calls in SharePoint REST addresses: `GetPropertiesFor(accountName=@v)?@v='…'`, or
// positionally, as PnPjs writes them, `getpropertiesfor(@v)`. SharePoint matches method and
// argument names without regard to case.

const badQuery = sharePointErrors.badQuery;

/** One segment of an address: its name and arguments (named keys lower-cased; positional ones in order). */
export interface Call {
  name: string;
  args: Map<string, string>;
  positional: string[];
}

/** A quoted literal, an @alias, or a bare true/false/number/null. */
const VALUE = String.raw`'(?:[^']|'')*'|@[A-Za-z0-9_]+|true|false|null|-?\d+(?:\.\d+)?`;

/** `GetPropertiesFor(accountName=@v)` → name and arguments (values as written, quotes included). */
export function parseCall(call: string): Call {
  const match = /^(\$?[A-Za-z][A-Za-z0-9_.]*)(?:\((.*)\))?$/s.exec(call);
  if (!match?.[1]) throw badQuery(`"${call}" is not a method call.`);
  const args = new Map<string, string>();
  const positional: string[] = [];
  const text = match[2] ?? '';
  // Arguments are [name=]value, separated by commas outside quotes; '' is a quote inside a quoted value.
  const pattern = new RegExp(String.raw`\s*(?:([A-Za-z]+)\s*=\s*)?(${VALUE})\s*(?:,|$)`, 'giy');
  let consumed = 0;
  for (let m = pattern.exec(text); m && m[0] !== ''; m = pattern.exec(text)) {
    if (m[1] !== undefined) args.set(m[1].toLowerCase(), m[2]!);
    else if (args.size > 0) throw badQuery(`The arguments of ${match[1]} mix named and positional ones: ${text}.`);
    else positional.push(m[2]!);
    consumed = pattern.lastIndex;
  }
  if (consumed !== text.length || /,\s*$/.test(text)) {
    throw badQuery(`The arguments of ${match[1]} are not valid: ${text}.`);
  }
  return { name: match[1], args, positional };
}

/**
 * The call's arguments by the method's parameter names (lower case, in order): positional ones
 * take the names in turn; a name the method does not have, or too many arguments, is refused.
 */
export function bindArguments(call: Call, parameters: readonly string[]): Map<string, string> {
  if (call.positional.length > parameters.length) {
    throw badQuery(`${call.name} takes ${parameters.length} argument(s); ${call.positional.length} were given.`);
  }
  const bound = new Map<string, string>();
  call.positional.forEach((value, i) => bound.set(parameters[i]!, value));
  for (const [name, value] of call.args) {
    if (!parameters.includes(name)) throw badQuery(`The parameter ${name} does not exist in method ${call.name}.`);
    bound.set(name, value);
  }
  return bound;
}

/** Splits `web/GetFolderByServerRelativeUrl('/User Photos/x')/Files` at the slashes outside parentheses and quotes. */
export function splitPath(path: string): string[] {
  const segments: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (c === "'") quoted = !quoted;
    else if (!quoted && c === '(') depth++;
    else if (!quoted && c === ')') depth--;
    else if (!quoted && depth === 0 && c === '/') {
      segments.push(path.slice(start, i));
      start = i + 1;
    }
  }
  segments.push(path.slice(start));
  return segments.filter((s, i) => s !== '' || i < segments.length - 1);
}

/** A literal 'value' or an @alias whose value is in the query string (itself a quoted literal). */
export function argumentValue(raw: string, query: Record<string, unknown>): string {
  let literal = raw;
  if (raw.startsWith('@')) {
    const key = Object.keys(query).find((k) => k.toLowerCase() === raw.toLowerCase());
    const value = key === undefined ? undefined : query[key];
    if (typeof value !== 'string') throw badQuery(`The parameter alias ${raw} has no value in the query string.`);
    literal = value.trim();
  }
  if (literal.length >= 2 && literal.startsWith("'") && literal.endsWith("'"))
    return literal.slice(1, -1).replace(/''/g, "'");
  throw badQuery(`${literal} is not a quoted string literal.`);
}

/** A bare `true`/`false` argument (or its alias); `fallback` when absent. */
export function booleanArgument(raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined) return fallback;
  const text = raw.toLowerCase();
  if (text === 'true' || text === "'true'") return true;
  if (text === 'false' || text === "'false'") return false;
  throw badQuery(`${raw} is not true or false.`);
}
