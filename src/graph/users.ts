import { sql, type ExpressionBuilder, type Expression, type SqlBool } from 'kysely';
import type { DirectoryUser } from '../directory/users.js';
import { invalidInput } from '../errors.js';
import type { Database } from '../storage/database.js';
import { splitClauses } from '../http/odata-filter.js';

// Graph's user resource and the query options of /users: the documented default properties
// (null where the directory does not know them), $select, and $filter with eq, in and startswith on
// the properties Graph lets one filter by. photosync's directory keeps a user's id, UPN, display
// name, whether they have a mailbox and whether they are enabled; the rest is null.

/** What GET /users/{id} returns without $select, in Graph's order. */
export const DEFAULT_PROPERTIES = [
  'businessPhones',
  'displayName',
  'givenName',
  'jobTitle',
  'mail',
  'mobilePhone',
  'officeLocation',
  'preferredLanguage',
  'surname',
  'userPrincipalName',
  'id',
] as const;

/** Properties only $select returns. */
const SELECT_ONLY = ['accountEnabled', 'provisionedPlans'] as const;

/**
 * Graph's provisionedPlans: an Exchange Online plan for a user with a mailbox, none otherwise
 * (https://learn.microsoft.com/graph/api/resources/provisionedplan).
 */
const EXCHANGE_PLAN = { capabilityStatus: 'Enabled', provisioningStatus: 'Success', service: 'exchange' } as const;
type Property = (typeof DEFAULT_PROPERTIES)[number] | (typeof SELECT_ONLY)[number];
const PROPERTIES: readonly Property[] = [...DEFAULT_PROPERTIES, ...SELECT_ONLY];

function propertyValue(user: DirectoryUser, property: Property): unknown {
  switch (property) {
    case 'businessPhones':
      return [];
    case 'displayName':
      return user.displayName;
    case 'mail':
      return user.hasMailbox ? user.upn : null;
    case 'userPrincipalName':
      return user.upn;
    case 'id':
      return user.id;
    case 'accountEnabled':
      return user.enabled;
    case 'provisionedPlans':
      return user.hasMailbox ? [EXCHANGE_PLAN] : [];
    case 'givenName':
    case 'jobTitle':
    case 'mobilePhone':
    case 'officeLocation':
    case 'preferredLanguage':
    case 'surname':
      return null;
  }
}

const unsupported = (message: string) => invalidInput(message, 'invalid_request');

/** `$select=displayName,mail` → those properties (any case, as Graph matches them); all defaults when absent. */
export function parseSelect(select: string | undefined): Property[] {
  if (select === undefined || select.trim() === '') return [...DEFAULT_PROPERTIES];
  const chosen = new Set<Property>();
  for (const word of select.split(',')) {
    const name = word.trim();
    const property = PROPERTIES.find((p) => p.toLowerCase() === name.toLowerCase());
    if (!property) throw unsupported(`Could not find a property named '${name}' on type 'microsoft.graph.user'.`);
    chosen.add(property);
  }
  // Graph always includes the id when $select is used.
  return [...chosen];
}

/** The user resource with `select`'s properties (or the defaults). */
export function userResource(user: DirectoryUser, select: string | undefined): Record<string, unknown> {
  return Object.fromEntries(parseSelect(select).map((p) => [p, propertyValue(user, p)]));
}

/** The properties $filter may name, and the column each is kept in (null: never known). */
const FILTERABLE: Record<string, 'id' | 'upn' | 'display_name' | 'mail' | null> = {
  id: 'id',
  userprincipalname: 'upn',
  mail: 'mail',
  displayname: 'display_name',
  givenname: null,
  surname: null,
};

type Where = (eb: ExpressionBuilder<Database, 'directory_users'>) => Expression<SqlBool>;

/**
 * `$filter=startswith(displayName,'Jan') and mail eq 'jane@contoso.com'` → a condition on the
 * directory's rows. Clauses are eq, in or startswith on id, userPrincipalName, mail, displayName,
 * givenName or surname, or `accountEnabled eq true|false` (ne too), joined by `and` or by `or`
 * (not both, no parentheses); string comparisons ignore case, as Graph's do. Anything else is a
 * 400 that says what is supported.
 */
export function parseFilter(filter: string): Where {
  const text = filter.trim();
  const hasAnd = /\)?\s+and\s+/i.test(text);
  const hasOr = /\)?\s+or\s+/i.test(text);
  if (hasAnd && hasOr) throw unsupported('Combine $filter clauses with either and or or, without parentheses.');
  const clauses = splitClauses(text, hasOr ? 'or' : 'and').map(parseClause);
  return (eb) => (hasOr ? eb.or(clauses.map((c) => c(eb))) : eb.and(clauses.map((c) => c(eb))));
}

const STRING = String.raw`'((?:[^']|'')*)'`;
const EQ = new RegExp(String.raw`^\s*([A-Za-z]+)\s+eq\s+${STRING}\s*$`, 'i');
const STARTS_WITH = new RegExp(String.raw`^\s*startswith\(\s*([A-Za-z]+)\s*,\s*${STRING}\s*\)\s*$`, 'i');
const QUOTED = String.raw`'(?:[^']|'')*'`;
const IN = new RegExp(String.raw`^\s*([A-Za-z]+)\s+in\s+\(\s*(${QUOTED}(?:\s*,\s*${QUOTED})*)\s*\)\s*$`, 'i');
const ENABLED = /^\s*accountEnabled\s+(eq|ne)\s+(true|false)\s*$/i;
/** At most this many values in one `in (…)`, Graph's limit for directory objects. */
const MAX_IN_VALUES = 15;

function parseClause(clause: string): Where {
  const enabled = ENABLED.exec(clause);
  if (enabled) {
    const wanted = (enabled[1]!.toLowerCase() === 'eq') === (enabled[2]!.toLowerCase() === 'true');
    return (eb) => eb('enabled', '=', wanted ? 1 : 0);
  }
  const eq = EQ.exec(clause);
  const startsWith = eq ? undefined : STARTS_WITH.exec(clause);
  const inList = eq || startsWith ? undefined : IN.exec(clause);
  const match = eq ?? startsWith ?? inList;
  if (!match) {
    throw unsupported(
      `Unsupported or invalid query filter clause: ${clause.trim()}. photosync supports "property eq 'value'", ` +
        `"property in ('value', …)" and "startswith(property,'value')" on id, userPrincipalName, mail, displayName, ` +
        `givenName and surname, and "accountEnabled eq true" (or false).`,
    );
  }
  const name = match[1]!;
  const values = (inList ? [...match[2]!.matchAll(new RegExp(STRING, 'g'))].map((m) => m[1]!) : [match[2]!]).map(
    (value) => value.replace(/''/g, "'").toLowerCase(),
  );
  if (values.length > MAX_IN_VALUES) throw unsupported(`Too many values in the in operator: at most ${MAX_IN_VALUES}.`);
  // No name or UPN holds a control character, and PostgreSQL refuses a NUL in text.
  if (values.some((value) => /\p{Cc}/u.test(value)))
    throw unsupported(`The $filter value of ${name} cannot hold control characters.`);
  if (!(name.toLowerCase() in FILTERABLE)) {
    throw unsupported(
      `Unsupported filter property '${name}'. Filter by id, userPrincipalName, mail, displayName, givenName, surname or accountEnabled.`,
    );
  }
  const column = FILTERABLE[name.toLowerCase()] ?? null;
  return (eb) => {
    if (column === null) return sql<SqlBool>`1 = 0`;
    const target = column === 'mail' ? eb.ref('upn') : eb.fn<string>('lower', [eb.ref(column)]);
    const pattern = `${values[0]!.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const condition = startsWith
      ? sql<SqlBool>`${target} like ${pattern} escape '\\'`
      : eb.or(values.map((value) => eb(target, '=', value)));
    return column === 'mail' ? eb.and([condition, eb('has_mailbox', '=', 1)]) : condition;
  };
}
