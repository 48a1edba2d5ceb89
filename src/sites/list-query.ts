import { sharePointErrors } from './rest-errors.js';
import { splitClauses } from '../http/odata-filter.js';

// The $filter, $orderby, $top and $skip of the sites' lists, as scripts write them to find one
// person or one file (PnPjs's siteUsers.filter("Email eq 'jane@contoso.com'"),
// folder.files.filter("Name eq 'jane_contoso_com_MThumb.jpg'").top(1)): OData's eq and ne on a
// type's fields, startswith and substringof on its text fields, joined by `and` or by `or`. Text
// compares without regard to case, as SharePoint's does. Anything else is a 400 that says so,
// never an unfiltered or unsorted list.

type Entry = Record<string, unknown>;
type Test = (entry: Entry) => boolean;

/** A list's fields, by kind; `type` names it in messages (SP.User, SP.File). */
export interface ListFields {
  type: string;
  text: readonly string[];
  number: readonly string[];
  boolean: readonly string[];
}

export const SITE_USER_FIELDS: ListFields = {
  type: 'SP.User',
  text: ['Email', 'LoginName', 'Title', 'UserPrincipalName'],
  number: ['Id', 'PrincipalType'],
  boolean: ['IsSiteAdmin', 'IsHiddenInUI'],
};

/** SP.File as the library lists it: Length is Edm.Int64, which OData's JSON writes as a string. */
export const FILE_FIELDS: ListFields = {
  type: 'SP.File',
  text: ['Name', 'ServerRelativeUrl', 'TimeCreated', 'TimeLastModified', 'Length'],
  number: [],
  boolean: [],
};

const STRING = String.raw`'((?:[^']|'')*)'`;
const EQ = new RegExp(String.raw`^([A-Za-z]+)\s+(eq|ne)\s+(?:${STRING}|(-?\d+)|(true|false))$`, 'i');
const STARTS_WITH = new RegExp(String.raw`^startswith\(\s*([A-Za-z]+)\s*,\s*${STRING}\s*\)$`, 'i');
const SUBSTRING_OF = new RegExp(String.raw`^substringof\(\s*${STRING}\s*,\s*([A-Za-z]+)\s*\)$`, 'i');

const badQuery = (message: string) => sharePointErrors.badQuery(message);
const unquote = (text: string) => text.replace(/''/g, "'");
const text = (value: unknown) => (typeof value === 'string' ? value.toLowerCase() : '');

function fieldNamed(fields: ListFields, name: string): string | undefined {
  const all = [...fields.text, ...fields.number, ...fields.boolean];
  return all.find((f) => f.toLowerCase() === name.toLowerCase());
}

function field(fields: ListFields, name: string, kinds: readonly string[]): string {
  const found = fieldNamed(fields, name);
  if (!found) throw badQuery(`The field '${name}' of ${fields.type} cannot be filtered on here.`);
  if (!kinds.includes(found)) throw badQuery(`The filter compares ${found} with a value of another type.`);
  return found;
}

function parseClause(fields: ListFields, clause: string): Test {
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
      const target = field(fields, name!, fields.text);
      const value = unquote(quoted).toLowerCase();
      test = (entry) => text(entry[target]) === value;
    } else if (number !== undefined) {
      const target = field(fields, name!, fields.number);
      test = (entry) => entry[target] === Number(number);
    } else {
      const target = field(fields, name!, fields.boolean);
      test = (entry) => entry[target] === (boolean!.toLowerCase() === 'true');
    }
    return negate ? (entry) => !test(entry) : test;
  }
  const startsWith = STARTS_WITH.exec(trimmed);
  if (startsWith) {
    const target = field(fields, startsWith[1]!, fields.text);
    const value = unquote(startsWith[2]!).toLowerCase();
    return (entry) => text(entry[target]).startsWith(value);
  }
  const substringOf = SUBSTRING_OF.exec(trimmed);
  if (substringOf) {
    const target = field(fields, substringOf[2]!, fields.text);
    const value = unquote(substringOf[1]!).toLowerCase();
    return (entry) => text(entry[target]).includes(value);
  }
  const numeric = fields.number.length > 0 || fields.boolean.length > 0;
  throw badQuery(
    `The query filter clause "${trimmed}" is not supported here: use "Field eq 'value'", startswith(Field,'value') ` +
      `or substringof('value',Field) on ${fields.text.join(', ')}` +
      (numeric ? `, or eq on ${[...fields.number, ...fields.boolean].join(', ')}.` : '.'),
  );
}

/** The longest `$filter` taken: dozens of clauses, far more than a script finding people or files writes. */
export const MAX_FILTER_LENGTH = 2000;

/** `$filter` of a list → a test on its values. */
export function listFilter(filter: string, fields: ListFields): Test {
  if (filter.length > MAX_FILTER_LENGTH) {
    throw badQuery(
      `The $filter is ${filter.length} characters long; at most ${MAX_FILTER_LENGTH} are taken. Ask for fewer values at a time.`,
    );
  }
  const outside = filter.replace(/'(?:[^']|'')*'/g, "''");
  // One whitespace character either side says as much as a run of them, and is found in one pass.
  const hasAnd = /\sand\s/i.test(outside);
  const hasOr = /\sor\s/i.test(outside);
  if (hasAnd && hasOr) throw badQuery('Combine $filter clauses with either and or or, not both.');
  const tests = splitClauses(filter.trim(), hasOr ? 'or' : 'and').map((clause) => parseClause(fields, clause));
  return hasOr ? (entry) => tests.some((t) => t(entry)) : (entry) => tests.every((t) => t(entry));
}

/** `$filter` of the site's users → a test on SP.User values. */
export const siteUserFilter = (filter: string): Test => listFilter(filter, SITE_USER_FIELDS);

/** `$orderby` of a list ("Name desc, Length") → a comparison of its values. */
export function listOrder(orderby: string, fields: ListFields): (a: Entry, b: Entry) => number {
  const keys = orderby.split(',').map((part) => {
    const match = /^\s*([A-Za-z]+)(?:\s+(asc|desc))?\s*$/i.exec(part);
    const name = match && fieldNamed(fields, match[1]!);
    if (!match || !name) {
      throw badQuery(
        `The $orderby "${part.trim()}" is not supported here: name a field of ${fields.type} ` +
          `(${[...fields.text, ...fields.number].join(', ')}), then asc or desc.`,
      );
    }
    return {
      name,
      sign: match[2]?.toLowerCase() === 'desc' ? -1 : 1,
      numeric: name === 'Length' || fields.number.includes(name),
    };
  });
  return (a, b) => {
    for (const { name, sign, numeric } of keys) {
      const [x, y] = numeric ? [Number(a[name]), Number(b[name])] : [text(a[name]), text(b[name])];
      if (x < y) return -sign;
      if (x > y) return sign;
    }
    return 0;
  };
}

/** A whole number from `$top` or `$skip`, at most `max`. */
export function listCount(option: '$top' | '$skip', value: string, max: number): number {
  if (!/^\s*\d{1,6}\s*$/.test(value) || Number(value) > max) {
    throw badQuery(`The ${option} value '${value}' is not a number from 0 to ${max}.`);
  }
  return Number(value);
}

/**
 * A list's values as `$filter`, `$orderby`, `$skip` and `$top` ask (`query` holds them by their
 * names in any case), in that order; the values come in their own order (by name).
 */
export function applyListQuery<T extends Entry>(
  query: { filter?: string; orderby?: string; skip?: string; top?: string },
  values: T[],
  fields: ListFields,
  max: number,
): T[] {
  let found =
    query.filter !== undefined && query.filter.trim() !== '' ? values.filter(listFilter(query.filter, fields)) : values;
  if (query.orderby !== undefined && query.orderby.trim() !== '')
    found = [...found].sort(listOrder(query.orderby, fields));
  const skip = query.skip === undefined ? 0 : listCount('$skip', query.skip, max);
  const top = query.top === undefined ? max : listCount('$top', query.top, max);
  return found.slice(skip, skip + top);
}
