import type { Db } from '../storage/database.js';
import { USER_COLUMNS, toUser, type DirectoryUser } from './users.js';

/** Enabled people by display name, for the sites' People section. */
export async function listPeople(db: Db, limit: number): Promise<DirectoryUser[]> {
  const rows = await db
    .selectFrom('directory_users')
    .select(USER_COLUMNS)
    .where('enabled', '=', 1)
    .orderBy('display_name')
    .orderBy('upn')
    .limit(limit)
    .execute();
  return rows.map(toUser);
}
