import { PostgresAdapter, sql, type Kysely } from 'kysely';
import { refreshStatement } from './2026-11-30-01-in-step-before-failing.js';

// Frozen in time: this migration never imports application types.
//
// PostgreSQL: the admin status triggers call admin_refresh_status(user) for every write that can
// move a user's state (a sync's switch of pictures, a mail photo set, a failure). As a SQL
// function its statement, a join of five tables and an upsert, was parsed and planned again at
// every call: about 0.6 ms of each sync's switch and each photo set. The same statement in PL/pgSQL
// is planned once per connection and kept. What it computes is unchanged (2026-11-30-01).

const fn = (language: 'sql' | 'plpgsql') =>
  language === 'sql'
    ? `CREATE OR REPLACE FUNCTION admin_refresh_status(target text) RETURNS void LANGUAGE sql AS $body$
${refreshStatement('u.id = target', true)}
$body$`
    : `CREATE OR REPLACE FUNCTION admin_refresh_status(target text) RETURNS void LANGUAGE plpgsql AS $body$
BEGIN
${refreshStatement('u.id = target', true)};
END
$body$`;

export async function up(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql.raw(fn('plpgsql')).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql.raw(fn('sql')).execute(db);
}
