import type { ColumnType, Generated } from 'kysely';

/** Overrides of the environment's sync settings, and the rendition spec the status triggers compare with. */
export interface AdminSettingsTable {
  name: string;
  value: string;
  updated_at: number;
  updated_by: string | null;
}

/** One row per user, kept current by database triggers (see the 2026-11-26-02 migration). */
export interface AdminUserStatusTable {
  user_id: string;
  state: string;
  since: number;
  upn: string;
  search_name: string;
  rendition_spec: string | null;
  /** Computed by the database: 0 while a request to sync can help (out of step), 1 otherwise. */
  action_rank: ColumnType<number, never, never>;
}

export interface AdminPromptsTable {
  id: Generated<number>;
  user_id: string;
  prompted_by: string;
  created_at: number;
  mail_etag: string | null;
  emailed_at: number | null;
  email_error: string | null;
  resolved_at: number | null;
}

/** The outbox of prompt e-mails (see the 2026-12-02-02 migration). */
export interface AdminPromptMailsTable {
  prompt_id: number;
  status: string;
  tries: Generated<number>;
  next_try_at: number;
  lease_until: number | null;
  last_error: string | null;
  sent_at: number | null;
}

export interface AdminAuditTable {
  id: Generated<number>;
  at: number;
  actor_id: string;
  actor_upn: string;
  action: string;
  detail: string;
}

export interface UserLocalesTable {
  user_id: string;
  locale: string;
  updated_at: number;
}

export interface AdminTables {
  admin_settings: AdminSettingsTable;
  admin_user_status: AdminUserStatusTable;
  admin_prompts: AdminPromptsTable;
  admin_prompt_mails: AdminPromptMailsTable;
  admin_audit: AdminAuditTable;
  user_locales: UserLocalesTable;
}
