import { PostgresAdapter, sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// An administrator's request to sync is answered when the user is no longer out of step, however
// that came about: the banner's own button or a tile, which take the user on to the sites and
// not back to the portal's home, where requests used to be closed. So the row that says when the
// state changed closes the user's open requests, at that time, in every process; the console no
// longer shows them open, the next request is not "asked again", and the banner does not come back
// with the user's next photo. A request is closed no earlier than it was made: a user can come back
// in step with a picture older than the request (a photo changed back to the one the sites show).

const ANSWERED = `('in_step', 'no_photo', 'no_mailbox')`;

export async function up(db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql
      .raw(
        `CREATE FUNCTION admin_prompts_answered() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
          UPDATE admin_prompts SET resolved_at = GREATEST(NEW.since, created_at)
            WHERE user_id = NEW.user_id AND resolved_at IS NULL;
          RETURN NULL;
        END $body$`,
      )
      .execute(db);
    await sql
      .raw(
        `CREATE TRIGGER admin_prompts_answered AFTER UPDATE OF state ON admin_user_status FOR EACH ROW
        WHEN (NEW.state IN ${ANSWERED} AND OLD.state IS DISTINCT FROM NEW.state)
        EXECUTE FUNCTION admin_prompts_answered()`,
      )
      .execute(db);
  } else {
    await sql
      .raw(
        `CREATE TRIGGER admin_prompts_answered AFTER UPDATE OF state ON admin_user_status
        WHEN new.state IN ${ANSWERED} AND old.state IS NOT new.state BEGIN
          UPDATE admin_prompts SET resolved_at = MAX(new.since, created_at)
            WHERE user_id = new.user_id AND resolved_at IS NULL;
        END`,
      )
      .execute(db);
  }
  // Requests already answered the same way.
  const later = db.getExecutor().adapter instanceof PostgresAdapter ? 'GREATEST' : 'MAX';
  await sql
    .raw(
      `UPDATE admin_prompts SET resolved_at = ${later}((SELECT s.since FROM admin_user_status s WHERE s.user_id = admin_prompts.user_id), created_at)
      WHERE resolved_at IS NULL AND user_id IN (SELECT user_id FROM admin_user_status WHERE state IN ${ANSWERED})`,
    )
    .execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql.raw('DROP TRIGGER IF EXISTS admin_prompts_answered ON admin_user_status').execute(db);
    await sql.raw('DROP FUNCTION IF EXISTS admin_prompts_answered()').execute(db);
  } else {
    await sql.raw('DROP TRIGGER IF EXISTS admin_prompts_answered').execute(db);
  }
}
