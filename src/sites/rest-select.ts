import type { FastifyRequest } from 'fastify';
import { sharePointErrors } from './rest-errors.js';

// SharePoint's $select on an entity or a collection of them: only the properties named, in any
// case as SharePoint matches them (`*` for all of them). A name the type does not have is
// SharePoint's 400; the OData metadata (__metadata, odata.*) is added around what is left.

/** The $select of a request, by its name in any case; undefined when there is none. */
function selectOption(request: FastifyRequest): string | undefined {
  const query = (request.query ?? {}) as Record<string, unknown>;
  const key = Object.keys(query).find((k) => k.toLowerCase() === '$select');
  const value = key === undefined ? undefined : query[key];
  if (Array.isArray(value)) throw sharePointErrors.badQuery('The query option $select is given more than once.');
  return typeof value === 'string' ? value : undefined;
}

/** The value with only the properties the request's $select names (all of them without one). */
export function selectedProperties(request: FastifyRequest, value: unknown, type: string): unknown {
  const select = selectOption(request);
  if (select === undefined || value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const names = select
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (names.length === 0 || names.includes('*')) return value;
  const object = value as Record<string, unknown>;
  const keys = new Map(Object.keys(object).map((key) => [key.toLowerCase(), key]));
  const wanted = new Set<string>();
  for (const name of names) {
    const key = keys.get(name.toLowerCase());
    if (key === undefined) {
      throw sharePointErrors.badQuery(
        `The property '${name}' does not exist on type '${type}'. Make sure to only use property names that are defined by the type.`,
      );
    }
    wanted.add(key);
  }
  return Object.fromEntries(Object.entries(object).filter(([key]) => wanted.has(key)));
}
