import { PostgresAdapter, sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// SQLite only (PostgreSQL's lower() and its indexes already fold every letter):
// 1. From now on every SQLite connection photosync opens answers lower() with JavaScript's
//    toLowerCase (src/storage/sqlite-functions.ts) instead of SQLite's, which folds A–Z only. What
//    the old one stored is made again here: the users' lower-case names (their search text follows
//    by trigger). No index may be built on lower() itself, since another program's connection (the
//    sqlite3 shell) has SQLite's own: its integrity_check would call a sound index damaged, and its
//    writes would file rows where photosync never looks. So the tenant users' indexes on
//    lower(display_name) and lower(upn) become plain indexes on columns that hold those values,
//    kept by triggers calling photosync_lower(), the same function under photosync's own name: a
//    program without it is refused such a write ("no such function") instead of filing the row
//    under SQLite's ASCII-only folding.
// 2. The search texts (name and UPN, one text for the trigram index) were joined with a space, so a
//    search could match across the two ("doe jane" in "jane doe jane@…"). They are joined with a
//    line break now, which a search cannot hold (src/storage/search-text.ts refuses it).

const SEPARATOR = 'char(10)';

export async function up(db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) return;
  const statements = [
    `DROP TRIGGER IF EXISTS admin_user_status_search_ai`,
    `DROP TRIGGER IF EXISTS admin_user_status_search_au`,
    `CREATE TRIGGER admin_user_status_search_ai AFTER INSERT ON admin_user_status BEGIN
      INSERT INTO admin_user_search_text(user_id, text) VALUES (new.user_id, new.search_name || ${SEPARATOR} || new.upn);
    END`,
    `CREATE TRIGGER admin_user_status_search_au AFTER UPDATE OF search_name, upn ON admin_user_status
      WHEN old.search_name IS NOT new.search_name OR old.upn IS NOT new.upn BEGIN
      UPDATE admin_user_search_text SET text = new.search_name || ${SEPARATOR} || new.upn WHERE user_id = new.user_id;
    END`,
    `DROP TRIGGER IF EXISTS m365_users_search_ai`,
    `DROP TRIGGER IF EXISTS m365_users_search_au`,
    `CREATE TRIGGER m365_users_search_ai AFTER INSERT ON m365_users BEGIN
      INSERT INTO m365_user_search_text(user_id, text) VALUES (new.id, new.display_name || ${SEPARATOR} || new.upn);
    END`,
    `CREATE TRIGGER m365_users_search_au AFTER UPDATE OF display_name, upn ON m365_users
      WHEN old.display_name IS NOT new.display_name OR old.upn IS NOT new.upn BEGIN
      UPDATE m365_user_search_text SET text = new.display_name || ${SEPARATOR} || new.upn WHERE user_id = new.id;
    END`,
    `UPDATE admin_user_status SET search_name = (
      SELECT lower(u.display_name) FROM directory_users u WHERE u.id = admin_user_status.user_id)
      WHERE user_id IN (SELECT id FROM directory_users)`,
    `UPDATE admin_user_search_text SET text = (
      SELECT s.search_name || ${SEPARATOR} || s.upn FROM admin_user_status s WHERE s.user_id = admin_user_search_text.user_id)
      WHERE user_id IN (SELECT user_id FROM admin_user_status)`,
    `UPDATE m365_user_search_text SET text = (
      SELECT m.display_name || ${SEPARATOR} || m.upn FROM m365_users m WHERE m.id = m365_user_search_text.user_id)
      WHERE user_id IN (SELECT id FROM m365_users)`,
    `DROP INDEX IF EXISTS m365_users_lower_display_name`,
    `DROP INDEX IF EXISTS m365_users_lower_upn`,
    `ALTER TABLE m365_users ADD COLUMN display_name_lower TEXT`,
    `ALTER TABLE m365_users ADD COLUMN upn_lower TEXT`,
    `UPDATE m365_users SET display_name_lower = photosync_lower(display_name), upn_lower = photosync_lower(upn)`,
    `CREATE TRIGGER m365_users_lower_ai AFTER INSERT ON m365_users BEGIN
      UPDATE m365_users SET display_name_lower = photosync_lower(new.display_name), upn_lower = photosync_lower(new.upn) WHERE id = new.id;
    END`,
    `CREATE TRIGGER m365_users_lower_au AFTER UPDATE OF display_name, upn ON m365_users BEGIN
      UPDATE m365_users SET display_name_lower = photosync_lower(new.display_name), upn_lower = photosync_lower(new.upn) WHERE id = new.id;
    END`,
    `CREATE INDEX m365_users_display_name_lower ON m365_users (display_name_lower)`,
    `CREATE INDEX m365_users_upn_lower ON m365_users (upn_lower)`,
  ];
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function down(): Promise<void> {
  // The lower-case names and indexes are right for either lower(); the joined texts stay joined
  // with a line break, which finds what a space did, less the matches across the two.
}
