import type { Generated, Selectable } from 'kysely';

export interface DirectoryUsersTable {
  id: string;
  /** Lower-cased userPrincipalName, e.g. jane@contoso.com. */
  upn: string;
  display_name: string;
  enabled: number;
  is_admin: number;
  has_mailbox: number;
  password_hash: string | null;
  created_at: number;
  /** Signed access tokens issued before this (epoch ms) are refused; 0 = none is. */
  tokens_valid_from: Generated<number>;
}

export interface DirectoryTokensTable {
  token_hash: string;
  user_id: string;
  label: string;
  created_at: number;
  expires_at: number | null;
  /** Space-separated Graph scopes; NULL = the default delegated scopes. */
  scopes: string | null;
}

export interface DirectorySessionsTable {
  id_hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
}

/** thumbnailPhoto: stored and shown to admins, never a source for the sites. */
export interface DirectoryPhotosTable {
  user_id: string;
  jpeg: Buffer;
  updated_at: number;
}

/** An app registration (a daemon's client id and secret), for the client-credentials grant. */
export interface DirectoryAppsTable {
  client_id: string;
  name: string;
  secret_hash: string;
  scopes: string;
  /** 1 when the app may use the password grant without its secret (Entra's "Allow public client flows"). */
  public_client: Generated<number>;
  created_at: number;
}

/** The directory's own settings: the token signing key and the tenant id, made on first use. */
export interface DirectorySettingsTable {
  name: string;
  value: string;
  created_at: number;
}

/** An RS256 key the directory signs tokens with; the newest one not retired signs. */
export interface DirectorySigningKeysTable {
  kid: string;
  private_key: string;
  public_jwk: string;
  created_at: number;
  retired_at: number | null;
}

export interface DirectoryAppRedirectUrisTable {
  client_id: string;
  uri: string;
  /** 1: a single-page app's (its codes are redeemed from the browser without a secret); 0: a web app's. */
  spa: Generated<number>;
}

/** A certificate an app proves itself with (client assertion), found by its thumbprints. */
export interface DirectoryAppCertificatesTable {
  thumbprint_sha256: string;
  thumbprint_sha1: string;
  client_id: string;
  certificate: string;
  not_after: number;
  created_at: number;
}

export interface DirectoryAuthorizationCodesTable {
  code_hash: string;
  client_id: string;
  user_id: string;
  redirect_uri: string;
  scope: string;
  code_challenge: string | null;
  nonce: string | null;
  created_at: number;
  expires_at: number;
  redeemed_at: number | null;
  family_id: string | null;
}

export interface DirectoryRefreshTokensTable {
  token_hash: string;
  family_id: string;
  client_id: string;
  user_id: string;
  scope: string;
  public_client: number;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

/** Failed sign-ins per address, and per address and account, in a window (sign-in-throttle.ts). */
export interface DirectorySignInFailuresTable {
  key_hash: string;
  window_start: number;
  failures: number;
}

export interface DirectoryTables {
  directory_sign_in_failures: DirectorySignInFailuresTable;
  directory_apps: DirectoryAppsTable;
  directory_signing_keys: DirectorySigningKeysTable;
  directory_app_redirect_uris: DirectoryAppRedirectUrisTable;
  directory_app_certificates: DirectoryAppCertificatesTable;
  directory_authorization_codes: DirectoryAuthorizationCodesTable;
  directory_refresh_tokens: DirectoryRefreshTokensTable;
  directory_settings: DirectorySettingsTable;
  directory_users: DirectoryUsersTable;
  directory_tokens: DirectoryTokensTable;
  directory_sessions: DirectorySessionsTable;
  directory_photos: DirectoryPhotosTable;
}

export type DirectoryUserRow = Selectable<DirectoryUsersTable>;
