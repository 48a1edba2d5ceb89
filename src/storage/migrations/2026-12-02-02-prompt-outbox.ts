import { type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// The prompt e-mails' outbox: one row per prompt to e-mail, written in the prompt's own
// transaction, so an e-mail is never lost to a crash or an SMTP server that is down. Whichever
// instance is up claims due rows (a lease), sends, and records the outcome: sent, or after a try
// that failed the time of the next one (exponential back-off), or failed for good after the last.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('admin_prompt_mails')
    .addColumn('prompt_id', 'bigint', (c) => c.primaryKey().references('admin_prompts.id').onDelete('cascade'))
    /** pending (to send, or to try again), sent, failed (gave up). */
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('tries', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_try_at', 'bigint', (c) => c.notNull())
    /** Held by the instance sending it until then; a crashed sender's claim runs out. */
    .addColumn('lease_until', 'bigint')
    .addColumn('last_error', 'text')
    .addColumn('sent_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('admin_prompt_mails_due')
    .on('admin_prompt_mails')
    .columns(['status', 'next_try_at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('admin_prompt_mails').ifExists().execute();
}
