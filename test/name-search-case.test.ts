import SQLite from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { listUsersPage } from '../src/admin/users-query.js';
import { listTenantUsersPage } from '../src/m365/tenant-view.js';
import { ensureTenantUser } from '../src/m365/users.js';
import * as unicodeLower from '../src/storage/migrations/2026-12-16-02-unicode-lower.js';
import type { Services } from '../src/services.js';
import { appToken, bearer } from './support/apps.js';
import { makeUser } from './support/factories.js';
import { describeEachDialect, useTestApp, useTestServices } from './support/services.js';

// Names that begin with a capital letter outside ASCII (Ülle, Õie, Öskar, Šarlote: common in
// Estonia). Both searches ignore case, but on SQLite the stored lower-case name comes from SQL's
// lower(), which folds ASCII letters only ("Ülle Õunapuu" stays "Ülle õunapuu"), while the search
// is lowered by JavaScript ("ül"): the admin console's short (prefix) search and Graph's $filter on
// displayName miss these people, even when given their exact name. PostgreSQL folds every letter.
// And the trigram index on SQLite holds the name and the UPN as one text, so a search can match
// across the two ("oe jane" in "jane doe" + "jane@…"), which neither the name nor the UPN holds.

describeEachDialect('name searches ignore case beyond ASCII', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  beforeAll(async () => {
    ({ services, app } = context);
    await makeUser(services, { displayName: 'Ülle Õunapuu', upn: `ulle.${dialect}@tartu.example` });
    await makeUser(services, { displayName: 'Öskar Äär', upn: `oskar.${dialect}@tartu.example` });
    await makeUser(services, { displayName: 'Jane Doe', upn: `jane.${dialect}@tartu.example` });
  });

  const names = async (search: string) =>
    (await listUsersPage(services.database.db, { search, sort: 'name', limit: 50 })).users.map((u) => u.displayName);

  it('the admin console finds Ülle by the start of her name, in any case', async () => {
    // Three letters or more: the trigram index, which folds every letter's case.
    expect(await names('ülle')).toEqual(['Ülle Õunapuu']);
    // Fewer: the start of the name.
    for (const search of ['ü', 'Ü', 'ül', 'Ül', 'ÜL']) expect(await names(search), search).toEqual(['Ülle Õunapuu']);
    for (const search of ['ö', 'Ö', 'Ös']) expect(await names(search), search).toEqual(['Öskar Äär']);
  });

  it("Graph's $filter on displayName finds Ülle by her exact name and in any case", async () => {
    const reader = await appToken(services, ['User.ReadBasic.All']);
    const filters = [
      "displayName eq 'Ülle Õunapuu'",
      "displayName eq 'ülle õunapuu'",
      "startswith(displayName,'Ülle')",
      "startswith(displayName,'ÜLLE')",
    ];
    for (const filter of filters) {
      const response = await app.inject({
        url: `/v1.0/users?$filter=${encodeURIComponent(filter)}`,
        headers: bearer(reader),
      });
      expect(response.statusCode, filter).toBe(200);
      expect(
        response.json<{ value: Array<{ displayName: string }> }>().value.map((u) => u.displayName),
        filter,
      ).toEqual(['Ülle Õunapuu']);
    }
  });

  it('a search matches within the name or within the UPN, never across the two', async () => {
    expect(await names('jane doe')).toEqual(['Jane Doe']);
    expect(await names(`jane.${dialect}@`)).toEqual(['Jane Doe']);
    // "jane doe" + "jane.sqlite@…": neither holds "doe jane".
    expect(await names('doe jane')).toEqual([]);
    expect(await names('oe ja')).toEqual([]);
  });
});

describe('a SQLite store written before lower() folded every letter', () => {
  const context = useTestServices('sqlite');

  it('is made right by its migration: the stored lower-case names, the search texts and the indexes on lower()', async () => {
    const { services } = context;
    const { db } = services.database;
    const nestor = await makeUser(services, { displayName: 'Nestor Old', upn: 'nestor.old@tartu.example' });
    await ensureTenantUser(db, {
      id: 'tenant-1',
      upn: 'tiina@tartu.example',
      displayName: 'Tiina',
      accountEnabled: true,
      hasMailbox: true,
    });
    // Another program's connection, with SQLite's own lower(): what every write did before.
    const raw = new SQLite(services.database.location);
    try {
      raw.prepare('UPDATE directory_users SET display_name = ? WHERE id = ?').run('Öskar Äär', nestor.id);
      raw.prepare('UPDATE m365_users SET display_name = ? WHERE id = ?').run('Ülle Õunapuu', 'tenant-1');
      raw.prepare("UPDATE admin_user_search_text SET text = replace(text, char(10), ' ')").run();
    } finally {
      raw.close();
    }
    const admin = async (search: string) =>
      (await listUsersPage(db, { search, sort: 'name', limit: 50 })).users.map((u) => u.displayName);
    const tenant = async (search: string) =>
      (await listTenantUsersPage(db, { search })).users.map((u) => u.displayName);
    expect(await admin('Ös')).toEqual([]);
    expect(await tenant('ül')).toEqual([]);
    expect(await admin('äär nestor')).toEqual(['Öskar Äär']);

    await unicodeLower.up(db);

    expect(await admin('Ös')).toEqual(['Öskar Äär']);
    expect(await tenant('ül')).toEqual(['Ülle Õunapuu']);
    expect(await tenant('ülle õun')).toEqual(['Ülle Õunapuu']);
    expect(await admin('äär nestor')).toEqual([]);
  });
});
