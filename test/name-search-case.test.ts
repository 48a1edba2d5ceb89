import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { App } from '../src/app.js';
import { listUsersPage } from '../src/admin/users-query.js';
import { caseFoldingProblem } from '../src/storage/case-folding.js';
import { listTenantUsersPage } from '../src/m365/tenant-view.js';
import { ensureTenantUser } from '../src/m365/users.js';
import * as unicodeLower from '../src/storage/migrations/2026-12-16-02-unicode-lower.js';
import type { Services } from '../src/services.js';
import { appToken, bearer } from './support/apps.js';
import { makeUser } from './support/factories.js';
import {
  adminQuery,
  createTestStore,
  describeEachDialect,
  openTestServices,
  useTestApp,
  useTestServices,
} from './support/services.js';

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
    // Another program's connection, with SQLite's own lower(): the store as the migration before
    // this one left it (indexes on lower(), texts joined by a space), written as every write did then.
    const raw = new SQLite(services.database.location);
    try {
      raw.exec(`
        DROP TRIGGER m365_users_lower_ai; DROP TRIGGER m365_users_lower_au;
        DROP INDEX m365_users_display_name_lower; DROP INDEX m365_users_upn_lower;
        ALTER TABLE m365_users DROP COLUMN display_name_lower; ALTER TABLE m365_users DROP COLUMN upn_lower;
        CREATE INDEX m365_users_lower_display_name ON m365_users (lower(display_name));
        CREATE INDEX m365_users_lower_upn ON m365_users (lower(upn));`);
      raw.prepare('UPDATE directory_users SET display_name = ? WHERE id = ?').run('Öskar Äär', nestor.id);
      raw.prepare('UPDATE m365_users SET display_name = ? WHERE id = ?').run('Ülle Õunapuu', 'tenant-1');
      raw.prepare("UPDATE admin_user_search_text SET text = replace(text, char(10), ' ')").run();
      // The old tenant search, on the old index, misses Ülle too.
      const start = raw
        .prepare(
          "SELECT display_name FROM m365_users WHERE lower(display_name) >= 'ül' AND lower(display_name) < 'ül\u{10FFFF}'",
        )
        .pluck()
        .all();
      expect(start).toEqual([]);
    } finally {
      raw.close();
    }
    const admin = async (search: string) =>
      (await listUsersPage(db, { search, sort: 'name', limit: 50 })).users.map((u) => u.displayName);
    const tenant = async (search: string) =>
      (await listTenantUsersPage(db, { search })).users.map((u) => u.displayName);
    expect(await admin('Ös')).toEqual([]);
    expect(await admin('äär nestor')).toEqual(['Öskar Äär']);

    await unicodeLower.up(db);

    expect(await admin('Ös')).toEqual(['Öskar Äär']);
    expect(await tenant('ül')).toEqual(['Ülle Õunapuu']);
    expect(await tenant('ülle õun')).toEqual(['Ülle Õunapuu']);
    expect(await admin('äär nestor')).toEqual([]);
    // No index on lower() is left for another program to find damaged.
    const plain = new SQLite(services.database.location, { readonly: true });
    try {
      expect(plain.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      plain.close();
    }
  });
});

describe('a SQLite store with names outside ASCII, to SQLite itself', () => {
  const context = useTestServices('sqlite');

  // The file is an ordinary SQLite database: an operator checks it with the sqlite3 shell, and other
  // tools or an older photosync process still running through an upgrade write it. None of them has
  // photosync's lower(). An index on an expression they evaluate differently is one they see as
  // damaged, and that they fill with keys photosync never looks up. They may refuse (an index on a
  // function they lack: "unknown function"), but must never report a healthy store as damaged nor
  // write index entries photosync cannot find.
  const plainly = <T>(run: () => T): T | 'refused' => {
    try {
      return run();
    } catch (error) {
      if (/unknown function|no such function/.test(String(error))) return 'refused';
      throw error;
    }
  };

  it('is not damaged to SQLite’s own integrity_check', async () => {
    const { services } = context;
    await ensureTenantUser(services.database.db, {
      id: 'tenant-ulle',
      upn: 'ulle@tartu.example',
      displayName: 'Ülle Õunapuu',
      accountEnabled: true,
      hasMailbox: true,
    });
    const plain = new SQLite(services.database.location, { readonly: true });
    try {
      expect(plainly(() => plain.pragma('integrity_check', { simple: true }))).toMatch(/^(ok|refused)$/);
    } finally {
      plain.close();
    }
  });

  it('a name another connection wrote is found, or that write is refused', async () => {
    const { services } = context;
    const { db } = services.database;
    await ensureTenantUser(db, {
      id: 'tenant-oskar',
      upn: 'oskar@tartu.example',
      displayName: 'Oskar',
      accountEnabled: true,
      hasMailbox: true,
    });
    const raw = new SQLite(services.database.location);
    let written: unknown;
    try {
      written = plainly(() =>
        raw.prepare('UPDATE m365_users SET display_name = ? WHERE id = ?').run('Öskar Äär', 'tenant-oskar'),
      );
    } finally {
      raw.close();
    }
    if (written === 'refused') return;
    const found = (await listTenantUsersPage(db, { search: 'ös' })).users.map((u) => u.displayName);
    expect(found).toEqual(['Öskar Äär']);
  });
});

// PostgreSQL's lower() folds letters by the database's LC_CTYPE: in a database made with the C
// locale (initdb --no-locale, createdb --locale=C, common for speed) it folds A–Z only, as
// SQLite's did. The stored lower-case name is then "Ülle õunapuu" and the search "ül" or even her
// full name finds nobody. photosync cannot change a database's locale: it says so at start, with
// the way out, and the searches work in a database with a UTF-8 locale (the tests' own).
describe.runIf(inject('postgresUrl'))('a PostgreSQL database with the C locale', () => {
  const admin = inject('postgresUrl')!;
  const database = `c_locale_${randomBytes(5).toString('hex')}`;
  let dataDir: string;
  let services: Services;
  beforeAll(async () => {
    await adminQuery(admin, `create database ${database} template template0 encoding 'UTF8' locale 'C'`);
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-c-locale-'));
    const url = new URL(admin);
    url.pathname = `/${database}`;
    services = await openTestServices({
      dialect: 'postgres',
      dataDir,
      databaseUrl: url.toString(),
      schema: undefined,
      env: {},
      drop: async () => {},
    });
  });
  afterAll(async () => {
    await services?.close();
    await adminQuery(admin, `drop database if exists ${database} with (force)`);
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('is named at start as a database whose searches miss such names, with the way out', async () => {
    const problem = await caseFoldingProblem(services.database.db);
    expect(problem).toContain('LC_CTYPE C');
    expect(problem).toContain('"Ülle Õunapuu"');
    expect(problem).toContain("LOCALE 'C.UTF-8'");
    // The tests' own database folds every letter, and is not named.
    const store = await createTestStore('postgres');
    const folding = await openTestServices(store);
    try {
      expect(await caseFoldingProblem(folding.database.db)).toBeUndefined();
    } finally {
      await folding.close();
      await store.drop();
    }
  });
});
