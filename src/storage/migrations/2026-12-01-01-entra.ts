import { PostgresAdapter, sql, type Kysely } from 'kysely';

// Frozen in time: this migration never imports application types.
//
// Entra's OpenID Connect side of the directory: RS256 signing keys (several may be published, one
// signs), each app's redirect URIs and certificates, authorization codes and refresh tokens (only
// their SHA-256 is kept), and an index on the domain part of the UPN, so that a tenant named by
// domain is found without reading every user.

export async function up(db: Kysely<any>): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;

  await db.schema
    .createTable('directory_signing_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    /** PKCS#8 PEM of the RSA private key. */
    .addColumn('private_key', 'text', (c) => c.notNull())
    /** The public JWK as published (kty, n, e, kid, use, alg). */
    .addColumn('public_jwk', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    /** When another key took over signing; NULL while it signs (or has never signed). */
    .addColumn('retired_at', 'bigint')
    .execute();

  await db.schema
    .createTable('directory_app_redirect_uris')
    .addColumn('client_id', 'text', (c) => c.notNull().references('directory_apps.client_id').onDelete('cascade'))
    .addColumn('uri', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('directory_app_redirect_uris_pk', ['client_id', 'uri'])
    .execute();

  await db.schema
    .createTable('directory_app_certificates')
    /** base64url SHA-256 of the DER certificate: the `x5t#S256` a client assertion names. */
    .addColumn('thumbprint_sha256', 'text', (c) => c.notNull())
    /** base64url SHA-1 of the DER certificate: the older `x5t`. */
    .addColumn('thumbprint_sha1', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull().references('directory_apps.client_id').onDelete('cascade'))
    .addColumn('certificate', 'text', (c) => c.notNull())
    .addColumn('not_after', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    // As in Entra, one certificate may serve several apps; an assertion names the app and the certificate.
    .addPrimaryKeyConstraint('directory_app_certificates_pk', ['client_id', 'thumbprint_sha256'])
    .execute();
  await db.schema
    .createIndex('directory_app_certificates_sha1')
    .on('directory_app_certificates')
    .columns(['client_id', 'thumbprint_sha1'])
    .execute();

  await db.schema
    .createTable('directory_authorization_codes')
    .addColumn('code_hash', 'text', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull().references('directory_apps.client_id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('directory_users.id').onDelete('cascade'))
    .addColumn('redirect_uri', 'text', (c) => c.notNull())
    /** The scope parameter as asked, checked again when the code is redeemed. */
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('code_challenge', 'text')
    .addColumn('nonce', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    /** Set when redeemed; a second redemption is refused and ends what the first one gave. */
    .addColumn('redeemed_at', 'bigint')
    /** The refresh-token family the redemption started. */
    .addColumn('family_id', 'text')
    .execute();

  await db.schema
    .createTable('directory_refresh_tokens')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    /** Every token rotated from one sign-in shares the family; a replayed token ends the family. */
    .addColumn('family_id', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull().references('directory_apps.client_id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('directory_users.id').onDelete('cascade'))
    /** Space-separated delegated scopes and OpenID scopes granted at sign-in. */
    .addColumn('scope', 'text', (c) => c.notNull())
    /** 1 when the client redeemed the code without credentials (a public client with PKCE). */
    .addColumn('public_client', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    /** Set when exchanged for a new one; using it again is a replay. */
    .addColumn('used_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('directory_refresh_tokens_family')
    .on('directory_refresh_tokens')
    .column('family_id')
    .execute();
  await db.schema
    .createIndex('directory_refresh_tokens_user')
    .on('directory_refresh_tokens')
    .column('user_id')
    .execute();
  await db.schema
    .createIndex('directory_refresh_tokens_client')
    .on('directory_refresh_tokens')
    .column('client_id')
    .execute();
  await db.schema
    .createIndex('directory_authorization_codes_client')
    .on('directory_authorization_codes')
    .column('client_id')
    .execute();
  await db.schema
    .createIndex('directory_authorization_codes_user')
    .on('directory_authorization_codes')
    .column('user_id')
    .execute();

  // The tenant of a domain: the part of the UPN after its one '@'. The query must use the same
  // expression (directory/tenants.ts) for the planner to pick this index.
  const domain = postgres ? "split_part(upn, '@', 2)" : "substr(upn, instr(upn, '@') + 1)";
  await sql.raw(`CREATE INDEX directory_users_domain ON directory_users (${domain})`).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql.raw('DROP INDEX IF EXISTS directory_users_domain').execute(db);
  for (const table of [
    'directory_refresh_tokens',
    'directory_authorization_codes',
    'directory_app_certificates',
    'directory_app_redirect_uris',
    'directory_signing_keys',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
