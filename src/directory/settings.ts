import { randomUUID } from 'node:crypto';
import type { Db } from '../storage/database.js';

// The directory's own settings (tenant id, when RS256 signing began, the old HS256 key), each made
// once by whichever process needs it first; everyone reads the same value.

// Settings never change once made, so each database handle reads each one once.
const settingsCache = new WeakMap<object, Map<string, string>>();

export async function directorySetting(db: Db, name: string, make: () => string): Promise<string> {
  let cache = settingsCache.get(db);
  if (!cache) settingsCache.set(db, (cache = new Map()));
  const cached = cache.get(name);
  if (cached !== undefined) return cached;
  const value = await readOrMakeSetting(db, name, make);
  cache.set(name, value);
  return value;
}

/** A setting's value if it was ever made, without making it. */
export async function existingDirectorySetting(db: Db, name: string): Promise<string | undefined> {
  const cached = settingsCache.get(db)?.get(name);
  if (cached !== undefined) return cached;
  const row = await db.selectFrom('directory_settings').select('value').where('name', '=', name).executeTakeFirst();
  if (row) return directorySetting(db, name, () => row.value);
  return undefined;
}

async function readOrMakeSetting(db: Db, name: string, make: () => string): Promise<string> {
  const existing = await db
    .selectFrom('directory_settings')
    .select('value')
    .where('name', '=', name)
    .executeTakeFirst();
  if (existing) return existing.value;
  await db
    .insertInto('directory_settings')
    .values({ name, value: make(), created_at: Date.now() })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const row = await db
    .selectFrom('directory_settings')
    .select('value')
    .where('name', '=', name)
    .executeTakeFirstOrThrow();
  return row.value;
}

/** The organisation's tenant id (a GUID, like Entra's), made on first use. */
export function tenantId(db: Db): Promise<string> {
  return directorySetting(db, 'tenant_id', () => randomUUID());
}
