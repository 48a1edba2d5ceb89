import type { Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// Revocation: a user's signed access tokens issued before `tokens_valid_from` (epoch ms; 0 = any)
// are refused, so a password change or a disabled account ends them with the sessions and refresh
// tokens. Opaque tokens made by `photosync token create` expire: those made before expiry existed
// (NULL) get 90 days from now.

const DAY_MS = 24 * 60 * 60_000;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('directory_users')
    .addColumn('tokens_valid_from', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db
    .updateTable('directory_tokens')
    .set({ expires_at: Date.now() + 90 * DAY_MS })
    .where('expires_at', 'is', null)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('directory_users').dropColumn('tokens_valid_from').execute();
}
