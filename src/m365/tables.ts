import type { SyncAttemptsTable } from '../sync/tables.js';
import type { Generated } from 'kysely';

export interface M365UsersTable {
  id: string;
  upn: string;
  display_name: string;
  has_mailbox: number | null;
  account_enabled: Generated<number>;
  seen_scan_id: string | null;
  gone_at: number | null;
  state: string | null;
  state_reason: string | null;
  state_reason_code: string | null;
  state_at: number | null;
  exchange_etag: string | null;
  profile_fingerprint: string | null;
  picture_timestamp: string | null;
  picture_url: string | null;
  /** The name of the user's picture files by their UPN (jane_contoso_com), and by the file PictureURL shows. */
  upn_stem: string | null;
  picture_stem: string | null;
  baseline_etag: string | null;
  baseline_profile: string | null;
  baseline_verdict: string | null;
  baseline_source: string | null;
  baseline_at: number | null;
  last_attempt_at: number | null;
  last_outcome: string | null;
  failing_since: number | null;
  failed_etag: string | null;
  last_error: string | null;
}

export interface M365ScansTable {
  id: string;
  started_at: number;
  finished_at: number | null;
  status: string;
  page_link: string | null;
  pages_done: Generated<number>;
  users_done: Generated<number>;
  users_total: number | null;
  graph_requests: Generated<number>;
  image_bytes: Generated<number>;
  /** Users this scan could not read (they kept the state an earlier scan found). */
  users_unread: Generated<number>;
  /** The tenant's throttling during this scan: how many waits, and how long they kept it waiting. */
  throttled_waits: Generated<number>;
  throttled_ms: Generated<number>;
  error: string | null;
  holder: string | null;
  lease_until: number | null;
}

/** Connect mode's pushes, in the shape of photosync's own sync history (without its counts). */
export type M365PushAttemptsTable = Omit<SyncAttemptsTable, 'checks' | 'last_at'>;

/** Portal sessions of tenant users signed in with their Microsoft 365 account. */
export interface M365SessionsTable {
  id_hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
}

export interface M365Tables {
  m365_users: M365UsersTable;
  m365_scans: M365ScansTable;
  m365_push_attempts: M365PushAttemptsTable;
  m365_sessions: M365SessionsTable;
}
