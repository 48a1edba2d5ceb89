import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { preparedQuery, statementName } from '../src/storage/prepared.js';
import { makeUser } from './support/factories.js';
import { describeEachDialect, useTestServices } from './support/services.js';

const byUpnOrName = preparedQuery(2, (db, upn: string, name: string) =>
  db
    .selectFrom('directory_users')
    .select(['id', 'upn'])
    .where((eb) => eb.or([eb('upn', '=', upn), eb('display_name', '=', name)]))
    .where('enabled', '=', 1)
    .orderBy('upn'),
);

describeEachDialect('prepared queries', (dialect) => {
  const context = useTestServices(dialect);

  it('runs with each call’s own values, constants kept, in a transaction too', async () => {
    const db = context.services.database.db;
    const a = await makeUser(context.services, { displayName: 'Prepared A' });
    const b = await makeUser(context.services, { displayName: 'Prepared B' });
    expect(await byUpnOrName(db, a.upn, 'nobody')).toEqual([{ id: a.id, upn: a.upn }]);
    expect((await byUpnOrName(db, 'none@contoso.com', 'Prepared B')).map((r) => r.id)).toEqual([b.id]);
    expect(await byUpnOrName(db, 'none@contoso.com', 'nobody')).toEqual([]);
    // Values that look like SQL are only ever values.
    expect(await byUpnOrName(db, "' or 1=1 --", '%')).toEqual([]);
    const inTransaction = await db.transaction().execute((trx) => byUpnOrName(trx, b.upn, 'Prepared A'));
    expect(inTransaction.map((r) => r.id).sort()).toEqual([a.id, b.id].sort());
  });

  it.runIf(dialect === 'postgres')(
    'is parsed once per PostgreSQL connection, as a named statement, and run by name after that',
    async () => {
      const a = await makeUser(context.services, { displayName: 'Prepared Named' });
      await context.services.database.db.connection().execute(async (connection) => {
        for (let i = 0; i < 3; i++) expect(await byUpnOrName(connection, a.upn, 'nobody')).toHaveLength(1);
        const { rows } = await sql<{ name: string; statement: string }>`
          select name, statement from pg_prepared_statements where name like 'photosync_%'`.execute(connection);
        const compiled = rows.filter((row) => statementName(row.statement) === row.name);
        expect(compiled.map((row) => row.statement)).toContainEqual(expect.stringContaining('"display_name" = $2'));
        // Other statements are not kept: only the prepared queries' texts have names.
        expect(rows).toEqual(compiled);
      });
    },
  );

  it('refuses a query that does not bind every parameter', async () => {
    const unbound = preparedQuery(1, (db, _upn: string) => db.selectFrom('directory_users').select('id'));
    await expect(unbound(context.services.database.db, 'x')).rejects.toThrow(/bind each/);
  });
});
