import { sql, type Kysely } from 'kysely';
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
        const prepared = async () =>
          (
            await sql<{ name: string; statement: string; runs: number }>`
              select name, statement, generic_plans + custom_plans as runs from pg_prepared_statements`.execute(
              connection,
            )
          ).rows;
        const runsOf = (rows: Awaited<ReturnType<typeof prepared>>) =>
          rows.filter((row) => row.statement.includes('"display_name" = $2')).map((row) => row.runs);
        const before = runsOf(await prepared())[0] ?? 0;
        for (let i = 0; i < 3; i++) expect(await byUpnOrName(connection, a.upn, 'nobody')).toHaveLength(1);
        // A query with a value that was not built with preparedQuery goes unnamed.
        expect((await sql<{ one: number }>`select ${1}::int as one`.execute(connection)).rows).toEqual([{ one: 1 }]);
        const after = await prepared();
        // One statement, run three more times by name.
        expect(runsOf(after)).toEqual([before + 3]);
        // Only the prepared queries' texts have names.
        for (const row of after) expect(statementName(row.statement)).toBe(row.name);
      });
    },
  );

  it.runIf(dialect === 'postgres')(
    'runs unnamed on a connection where a migration elsewhere changed what its statement returns',
    async () => {
      const { db } = context.services.database;
      type Probe = Kysely<{ prepared_probe: { id: string; n: number } }>;
      await sql`create table prepared_probe (id text primary key, n int not null)`.execute(db);
      await sql`insert into prepared_probe values ('a', 7)`.execute(db);
      const probe = preparedQuery(1, (kysely, id: string) =>
        (kysely as unknown as Probe).selectFrom('prepared_probe').select('n').where('id', '=', id),
      );
      await db.connection().execute(async (connection) => {
        expect(await probe(connection, 'a')).toEqual([{ n: 7 }]);
        // Another instance's migration, on another connection.
        await sql`alter table prepared_probe alter column n type bigint`.execute(db);
        // PostgreSQL refuses the statement prepared before ("cached plan must not change result
        // type"); the connection runs it unnamed instead, now and from then on.
        expect(await probe(connection, 'a')).toEqual([{ n: 7 }]);
        expect(await probe(connection, 'a')).toEqual([{ n: 7 }]);
      });
      // Inside a transaction the refusal fails the transaction, as any error would; the next run works.
      const probeInTransaction = preparedQuery(1, (kysely, id: string) =>
        (kysely as unknown as Probe).selectFrom('prepared_probe').select(['n', 'id']).where('id', '=', id),
      );
      await db.connection().execute(async (connection) => {
        expect(await probeInTransaction(connection, 'a')).toEqual([{ n: 7, id: 'a' }]);
        await sql`alter table prepared_probe alter column n type int`.execute(db);
        await expect(connection.transaction().execute((trx) => probeInTransaction(trx, 'a'))).rejects.toMatchObject({
          code: '0A000',
        });
        expect(await probeInTransaction(connection, 'a')).toEqual([{ n: 7, id: 'a' }]);
      });
    },
  );

  it('refuses a query that does not bind every parameter', async () => {
    const unbound = preparedQuery(1, (db, _upn: string) => db.selectFrom('directory_users').select('id'));
    await expect(unbound(context.services.database.db, 'x')).rejects.toThrow(/bind each/);
  });
});
