import { expect, inject, it } from 'vitest';
import { countUsers } from '../src/directory/users.js';
import * as fileStems from '../src/storage/migrations/2026-12-15-01-m365-file-stems.js';
import * as statusRefreshPlan from '../src/storage/migrations/2026-12-20-02-status-refresh-plan.js';
import * as publicClients from '../src/storage/migrations/2026-12-21-01-public-clients.js';
import * as spaRedirectUris from '../src/storage/migrations/2026-12-22-02-spa-redirect-uris.js';
import { createApp, findApp, redirectUriIsSpa } from '../src/directory/apps.js';
import { sql } from 'kysely';
import { giveMailPhoto, makeUser, solidJpeg } from './support/factories.js';

import { runCommand } from './support/cli.js';
import { adminQuery, createTestStore, describeEachDialect, openTestServices } from './support/services.js';

it('a DATABASE_URL whose search_path names no schema that exists is told as that [postgres]', async () => {
  const url = inject('postgresUrl');
  if (!url) return;
  const nowhere = new URL(url);
  nowhere.searchParams.set('options', '-c search_path=photosync_no_such_schema');
  const result = await runCommand(['status'], { DATABASE_URL: nowhere.toString(), PHOTOSYNC_DEMO: 'false' });
  expect(result.code).toBe(1);
  expect(result.stderr).toContain(
    "No schema of DATABASE_URL's search_path (photosync_no_such_schema) exists in this database. Create it",
  );
  expect(result.stderr).not.toContain('no schema has been selected');
});

describeEachDialect('database migrations', (dialect) => {
  it('migrates a fresh store, and opening it again keeps the data', async () => {
    const store = await createTestStore(dialect, { empty: true });
    try {
      const first = await openTestServices(store);
      await makeUser(first);
      await first.close();
      const again = await openTestServices(store);
      expect(await countUsers(again.database.db)).toBe(1);
      await again.close();
    } finally {
      await store.drop();
    }
  });

  it('migrates a new schema while another schema of the same database already has photosync tables', async () => {
    const a = await createTestStore(dialect);
    const b = await createTestStore(dialect, { empty: true });
    try {
      const first = await openTestServices(a);
      const second = await openTestServices(b);
      await makeUser(second);
      expect(await countUsers(first.database.db)).toBe(0);
      expect(await countUsers(second.database.db)).toBe(1);
      await first.close();
      await second.close();
    } finally {
      await a.drop();
      await b.drop();
    }
  });

  it.runIf(dialect === 'postgres')(
    'migrates while other schemas of the database are created and dropped, and sees only its own tables',
    async () => {
      // Other photosync instances (or test files) come and go in the same database meanwhile.
      const url = inject('postgresUrl')!;
      let churning = true;
      const churn = (async () => {
        for (let i = 0; churning; i++) {
          const other = `churn_${process.pid}_${i}`;
          await adminQuery(
            url,
            `create schema ${other}; create table ${other}.t (id serial primary key, a int, b int)`,
          );
          await adminQuery(url, `drop schema ${other} cascade`);
        }
      })();
      try {
        for (let round = 0; round < 8; round++) {
          const store = await createTestStore(dialect, { empty: true });
          try {
            const services = await openTestServices(store);
            const tables = await services.database.db.introspection.getTables();
            expect(new Set(tables.map((t) => t.schema))).toEqual(new Set([store.schema]));
            expect(tables.map((t) => t.name)).toContain('directory_users');
            await services.close();
          } finally {
            await store.drop();
          }
        }
      } finally {
        churning = false;
        await churn;
      }
    },
    120_000,
  );

  it.runIf(dialect === 'postgres')(
    'refreshes a user’s state from a PL/pgSQL function (planned once per connection), and back',
    async () => {
      const store = await createTestStore(dialect);
      const services = await openTestServices(store);
      try {
        const { db } = services.database;
        const language = async () =>
          (
            await sql<{ lanname: string }>`select l.lanname from pg_proc p join pg_language l on l.oid = p.prolang
              where p.proname = 'admin_refresh_status' and p.pronamespace = current_schema()::regnamespace`.execute(db)
          ).rows[0]?.lanname;
        const stateOf = async (id: string) =>
          (await db.selectFrom('admin_user_status').select('state').where('user_id', '=', id).executeTakeFirst())
            ?.state;
        expect(await language()).toBe('plpgsql');
        const before = await makeUser(services);
        await giveMailPhoto(services, before, await solidJpeg([10, 200, 10], 64));
        expect(await stateOf(before.id)).toBe('never_synced');
        await statusRefreshPlan.down(db);
        expect(await language()).toBe('sql');
        const after = await makeUser(services);
        await giveMailPhoto(services, after, await solidJpeg([10, 200, 10], 64));
        expect(await stateOf(after.id)).toBe('never_synced');
        await statusRefreshPlan.up(db);
        expect(await language()).toBe('plpgsql');
      } finally {
        await services.close();
        await store.drop();
      }
    },
  );

  it('apps registered before public client flows were a setting keep them; apps registered after do not', async () => {
    const store = await createTestStore(dialect);
    const services = await openTestServices(store);
    try {
      const { db } = services.database;
      await publicClients.down(db);
      await db
        .insertInto('directory_apps')
        .values({
          client_id: 'older-script',
          name: 'Older script',
          secret_hash: 'x',
          scopes: 'User.Read',
          created_at: 1,
        } as never)
        .execute();
      await publicClients.up(db);
      expect((await findApp(db, 'older-script'))?.publicClient).toBe(true);
      const added = await createApp(db, 'Newer script', ['User.Read']);
      expect((await findApp(db, added.clientId))?.publicClient).toBe(false);
    } finally {
      await services.close();
      await store.drop();
    }
  });

  it('redirect URIs registered before the platforms keep redeeming from the browser; a web one registered after does not', async () => {
    const store = await createTestStore(dialect);
    const services = await openTestServices(store);
    try {
      const { db } = services.database;
      const older = await createApp(db, 'Older SPA', ['User.Read']);
      await spaRedirectUris.down(db);
      await db
        .insertInto('directory_app_redirect_uris')
        .values({ client_id: older.clientId, uri: 'https://spa.example/' } as never)
        .execute();
      await spaRedirectUris.up(db);
      expect(await redirectUriIsSpa(db, older.clientId, 'https://spa.example/')).toBe(true);
      const newer = await createApp(db, 'Newer web app', ['User.Read'], { redirectUris: ['https://web.example/cb'] });
      expect(await redirectUriIsSpa(db, newer.clientId, 'https://web.example/cb')).toBe(false);
    } finally {
      await services.close();
      await store.drop();
    }
  });

  it('names the picture files of the tenant users already known when connect mode learns of shared names', async () => {
    const store = await createTestStore(dialect);
    const services = await openTestServices(store);
    try {
      const { db } = services.database;
      // As before the migration: users without the columns it adds.
      await fileStems.down(db);
      await db
        .insertInto('m365_users')
        .values([
          {
            id: 'one',
            upn: 'A.B@contoso.com',
            display_name: 'Anna Berg',
            has_mailbox: 1,
            picture_url:
              'https://contoso-my.sharepoint.com:443/User%20Photos/Profile%20Pictures/A_B_contoso_com_MThumb.jpg?t=63783110969',
          },
          { id: 'two', upn: 'a_b@contoso.com', display_name: 'Arvo Bergmann', has_mailbox: 1, picture_url: '' },
          // Enough users for more than one statement.
          ...Array.from({ length: 700 }, (_, i) => ({
            id: `u${String(i).padStart(3, '0')}`,
            upn: `Person.${i}@Contoso.com`,
            display_name: `Person ${i}`,
            has_mailbox: 1,
            picture_url:
              i % 2 ? null : `https://contoso-my.sharepoint.com/User%20Photos/Profile%20Pictures/x${i}_MThumb.jpg`,
          })),
        ] as never)
        .execute();
      await fileStems.up(db);
      const rows = await db.selectFrom('m365_users').select(['id', 'upn_stem', 'picture_stem']).orderBy('id').execute();
      expect(rows.slice(0, 2)).toEqual([
        { id: 'one', upn_stem: 'a_b_contoso_com', picture_stem: 'a_b_contoso_com' },
        { id: 'two', upn_stem: 'a_b_contoso_com', picture_stem: null },
      ]);
      expect(rows.slice(2)).toEqual(
        Array.from({ length: 700 }, (_, i) => ({
          id: `u${String(i).padStart(3, '0')}`,
          upn_stem: `person_${i}_contoso_com`,
          picture_stem: i % 2 ? null : `x${i}`,
        })).sort((a, b) => a.id.localeCompare(b.id)),
      );
    } finally {
      await services.close();
      await store.drop();
    }
  });
});
