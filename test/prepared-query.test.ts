import { expect, it } from 'vitest';
import { preparedQuery } from '../src/storage/prepared.js';
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

  it('refuses a query that does not bind every parameter', async () => {
    const unbound = preparedQuery(1, (db, _upn: string) => db.selectFrom('directory_users').select('id'));
    await expect(unbound(context.services.database.db, 'x')).rejects.toThrow(/bind each/);
  });
});
