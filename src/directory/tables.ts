import type { Selectable } from 'kysely';

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
  created_at: number;
}

/** The directory's own settings: the token signing key and the tenant id, made on first use. */
export interface DirectorySettingsTable {
  name: string;
  value: string;
  created_at: number;
}

export interface DirectoryTables {
  directory_apps: DirectoryAppsTable;
  directory_settings: DirectorySettingsTable;
  directory_users: DirectoryUsersTable;
  directory_tokens: DirectoryTokensTable;
  directory_sessions: DirectorySessionsTable;
  directory_photos: DirectoryPhotosTable;
}

export type DirectoryUserRow = Selectable<DirectoryUsersTable>;
