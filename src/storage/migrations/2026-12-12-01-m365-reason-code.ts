import type { Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// Why a tenant user is in their state, as a code beside the English sentence: the console words
// the code in the reader's language; the sentence (with any technical detail) stays for the
// command line. Rows written before have no code and keep showing their sentence.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('m365_users').addColumn('state_reason_code', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('m365_users').dropColumn('state_reason_code').execute();
}
