import type { Compilable, CompiledQuery, Kysely } from 'kysely';
import type { Database, Db } from './database.js';

/** The texts of the prepared queries, each with the name PostgreSQL keeps its parsed statement under. */
const statementNames = new Map<string, string>();

/**
 * The name a prepared query's text is parsed once under on each PostgreSQL connection (a named
 * statement, which saves PostgreSQL parsing and planning it at every run); undefined for any other text.
 */
export function statementName(text: string): string | undefined {
  return statementNames.get(text);
}

/**
 * A query built with Kysely's builder once per database dialect and then run with new parameter
 * values. Building and compiling a query cost more than running it on SQLite, so the queries run
 * on every request (authentication, the picture lookup, a sync's inputs) are compiled once, and on
 * PostgreSQL each connection parses them once (see `statementName`). `build` receives
 * stand-ins for the parameters and must use each of them only as a bound value (`where(col, '=',
 * param)`), never as an identifier or inside raw SQL text.
 */
export function preparedQuery<Params extends unknown[], Row>(
  arity: Params['length'],
  build: (db: Kysely<Database>, ...params: Params) => Compilable<Row>,
): (db: Db, ...params: Params) => Promise<Row[]> {
  // Stand-ins no real value can equal: a fresh object per parameter, compared by identity.
  const standIns = Array.from({ length: arity }, (_, index) => ({ preparedParameter: index }));
  const compiledByAdapter = new WeakMap<object, { compiled: CompiledQuery<Row>; slots: (number | undefined)[] }>();
  return async (db, ...params) => {
    const adapter = db.getExecutor().adapter;
    let entry = compiledByAdapter.get(adapter);
    if (!entry) {
      const compiled = build(db as Kysely<Database>, ...(standIns as Params)).compile();
      const slots = compiled.parameters.map((value) => {
        const index = standIns.indexOf(value as (typeof standIns)[number]);
        return index < 0 ? undefined : index;
      });
      const used = new Set(slots.filter((slot) => slot !== undefined));
      if (used.size !== arity) throw new Error(`A prepared query must bind each of its ${arity} parameters.`);
      entry = { compiled, slots };
      compiledByAdapter.set(adapter, entry);
      if (!statementNames.has(compiled.sql)) statementNames.set(compiled.sql, `photosync_${statementNames.size + 1}`);
    }
    const { compiled, slots } = entry;
    const parameters = compiled.parameters.map((value, i) => {
      const slot = slots[i];
      return slot === undefined ? value : params[slot];
    });
    const result = await db.executeQuery<Row>({ ...compiled, parameters });
    return result.rows;
  };
}
