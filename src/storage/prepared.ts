import type { Compilable, CompiledQuery, Kysely } from 'kysely';
import type { Database, Db } from './database.js';

/**
 * A query built with Kysely's builder once per database dialect and then run with new parameter
 * values. Building and compiling a query cost more than running it on SQLite, so the queries run
 * on every request (authentication, the picture lookup) are compiled once. `build` receives
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
