import { sharePointErrors } from './rest-errors.js';
import { splitClauses } from '../http/odata-filter.js';

// The $filter of /_api/web/siteusers, as scripts write it to find one person (PnPjs's
// siteUsers.filter("Email eq 'jane@contoso.com'")): OData's eq on SP.User's fields, startswith and
// substringof on its text fields, joined by `and` or by `or`. Text compares without regard to
// case, as SharePoint's does. Anything else is a 400 that says so, never an unfiltered list.

type SiteUser = Record<string, unknown>;
type Test = (user: SiteUser) => boolean;

/** The fields a filter may name, by their lower-case name. */
const TEXT_FIELDS = ['Email', 'LoginName', 'Title', 'UserPrincipalName'] as const;
const NUMBER_FIELDS = ['Id', 'PrincipalType'] as const;
const BOOLEAN_FIELDS = ['IsSiteAdmin', 'IsHiddenInUI'] as const;
const FIELDS = new Map<string, string>(
  [...TEXT_FIELDS, ...NUMBER_FIELDS, ...BOOLEAN_FIELDS].map((name) => [name.toLowerCase(), name]),
);

const STRING = String.raw`'((?:[^']|'')*)'`;
const EQ = new RegExp(String.raw`^([A-Za-z]+)\s+(eq|ne)\s+(?:${STRING}|(-?\d+)|(true|false))$`, 'i');
const STARTS_WITH = new RegExp(String.raw`^startswith\(\s*([A-Za-z]+)\s*,\s*${STRING}\s*\)$`, 'i');
const SUBSTRING_OF = new RegExp(String.raw`^substringof\(\s*${STRING}\s*,\s*([A-Za-z]+)\s*\)$`, 'i');

const badFilter = (message: string) => sharePointErrors.badQuery(message);
const unquote = (text: string) => text.replace(/''/g, "'");
const text = (value: unknown) => (typeof value === 'string' ? value.toLowerCase() : '');

function field(name: string, kinds: readonly string[]): string {
  const found = FIELDS.get(name.toLowerCase());
  if (!found) throw badFilter(`The field '${name}' of SP.User cannot be filtered on here.`);
  if (!kinds.includes(found)) throw badFilter(`The filter compares ${found} with a value of another type.`);
  return found;
}

function parseClause(clause: string): Test {
  const trimmed = clause
    .trim()
    .replace(/^\((.*)\)$/s, '$1')
    .trim();
  const eq = EQ.exec(trimmed);
  if (eq) {
    const [, name, op, quoted, number, boolean] = eq;
    const negate = op!.toLowerCase() === 'ne';
    let test: Test;
    if (quoted !== undefined) {
      const target = field(name!, TEXT_FIELDS);
      const value = unquote(quoted).toLowerCase();
      test = (user) => text(user[target]) === value;
    } else if (number !== undefined) {
      const target = field(name!, NUMBER_FIELDS);
      test = (user) => user[target] === Number(number);
    } else {
      const target = field(name!, BOOLEAN_FIELDS);
      test = (user) => user[target] === (boolean!.toLowerCase() === 'true');
    }
    return negate ? (user) => !test(user) : test;
  }
  const startsWith = STARTS_WITH.exec(trimmed);
  if (startsWith) {
    const target = field(startsWith[1]!, TEXT_FIELDS);
    const value = unquote(startsWith[2]!).toLowerCase();
    return (user) => text(user[target]).startsWith(value);
  }
  const substringOf = SUBSTRING_OF.exec(trimmed);
  if (substringOf) {
    const target = field(substringOf[2]!, TEXT_FIELDS);
    const value = unquote(substringOf[1]!).toLowerCase();
    return (user) => text(user[target]).includes(value);
  }
  throw badFilter(
    `The query filter clause "${trimmed}" is not supported here: use "Field eq 'value'", startswith(Field,'value') ` +
      `or substringof('value',Field) on Email, LoginName, Title or UserPrincipalName, or eq on Id, PrincipalType or IsSiteAdmin.`,
  );
}

/** `$filter` of the site's users → a test on SP.User values. */
export function siteUserFilter(filter: string): Test {
  const outside = filter.replace(/'(?:[^']|'')*'/g, "''");
  const hasAnd = /\s+and\s+/i.test(outside);
  const hasOr = /\s+or\s+/i.test(outside);
  if (hasAnd && hasOr) throw badFilter('Combine $filter clauses with either and or or, not both.');
  const tests = splitClauses(filter.trim(), hasOr ? 'or' : 'and').map(parseClause);
  return hasOr ? (user) => tests.some((t) => t(user)) : (user) => tests.every((t) => t(user));
}
