import type { Generated } from 'kysely';

export interface SyncAttemptsTable {
  id: Generated<number>;
  user_id: string;
  trigger: string;
  outcome: string;
  started_at: number;
  duration_ms: number;
  etag_before: string | null;
  etag_after: string | null;
  error: string | null;
  /** How many times this attempt was made: repeated checks that changed nothing share one row. */
  checks: Generated<number>;
  /** When the last of them started (the retention purge reads it). */
  last_at: number;
}

export interface SyncStateTable {
  user_id: string;
  last_attempt_at: number;
  last_outcome: string;
  failing_since: number | null;
  failed_etag: string | null;
  retry_after: number | null;
  last_error: string | null;
  /**
   * When the attempt that last decided the running failure (any outcome but a skip) started: an
   * attempt recorded late that started before it leaves the failure as it is.
   */
  settled_at: number | null;
}

export interface SyncLeasesTable {
  user_id: string;
  holder: string;
  expires_at: number;
}

export interface SyncTables {
  sync_attempts: SyncAttemptsTable;
  sync_state: SyncStateTable;
  sync_leases: SyncLeasesTable;
}
