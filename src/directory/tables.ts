import type { Insertable, Selectable } from 'kysely';

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

export interface DirectoryTables {
  directory_users: DirectoryUsersTable;
  directory_tokens: DirectoryTokensTable;
  directory_sessions: DirectorySessionsTable;
  directory_photos: DirectoryPhotosTable;
}

export type DirectoryUserRow = Selectable<DirectoryUsersTable>;
export type NewDirectoryUser = Insertable<DirectoryUsersTable>;
