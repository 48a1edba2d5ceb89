import { SYNC_STATE_LABELS, SYNC_STATES } from '../sync/state.js';

// What photosync knows about one user of a Microsoft 365 tenant, as plain data: what Graph said
// about their Exchange photo, what SharePoint said about their profile picture, and the states the
// admin sees. The same states as photosync's own users, plus `unknown` where nothing can tell yet.

export const TENANT_STATES = [...SYNC_STATES, 'unknown'] as const;
export type TenantState = (typeof TENANT_STATES)[number];

export const TENANT_STATE_LABELS: Record<TenantState, string> = { ...SYNC_STATE_LABELS, unknown: 'unknown' };

/**
 * Why a user is in their state, as a code the console puts in words in the reader's language
 * (admin.tenant.reason.<code>); the stored English sentence (with any technical detail) stays
 * for the command line and the log.
 */
export const TENANT_REASONS = [
  'no_mailbox',
  'exchange_unreadable',
  'profile_unreadable',
  'removed_still_shown',
  'no_photo',
  'no_profile',
  'placeholder_again',
  'placeholder_never',
  'exchange_changed',
  'same_as_before',
  'differs_before',
  'compared_same',
  'compared_differs',
  'not_comparable',
  'push_failed',
  'pushed',
  'pushed_removal',
] as const;
export type TenantReason = (typeof TENANT_REASONS)[number];

/** The reasons whose stored sentence carries a detail worth showing (an error, what could not be read). */
export const DETAILED_REASONS: ReadonlySet<TenantReason> = new Set([
  'exchange_unreadable',
  'profile_unreadable',
  'not_comparable',
  'push_failed',
]);

/** A user as Graph lists them (`/users?$select=…`). */
export interface TenantUser {
  id: string;
  upn: string;
  displayName: string;
  accountEnabled: boolean;
  /** From `provisionedPlans`: true/false when the tenant says, null when it did not. */
  hasMailbox: boolean | null;
}

/** Graph's answer about a user's Exchange photo, from its metadata only. */
export type ExchangePhoto =
  { kind: 'photo'; etag: string; side: number } | { kind: 'none' } | { kind: 'no_mailbox' } | ReadError;

/**
 * Why a reading failed. `lasting`: the service refused this user (a 4xx other than 408 and 429,
 * e.g. an application access policy keeping the mailbox from the app), which reading again will
 * not change; otherwise the failure may pass (throttling, a 5xx, no answer).
 */
export type ReadError = { kind: 'error'; message: string; lasting?: boolean };

/** Whether an HTTP status refuses for good: a 4xx other than 408 (timeout) and 429 (throttled). */
export const lastingRefusal = (status: number): boolean =>
  status >= 400 && status < 500 && status !== 408 && status !== 429;

/** SharePoint's answer about a user's profile picture (PeopleManager GetPropertiesFor). */
export type ProfilePicture =
  | {
      kind: 'profile';
      /** PictureURL, '' when none. */
      pictureUrl: string;
      /** SPS-PicturePlaceholderState: 0 = the picture, 1 = the placeholder; null when unset. */
      placeholderState: 0 | 1 | null;
      /** SPS-PictureExchangeSyncState: 1 = SharePoint takes this user's photo from Exchange. */
      exchangeSyncState: 0 | 1 | null;
      /** SPS-PictureTimestamp as SharePoint keeps it (a string; '' when unset). */
      timestamp: string;
    }
  | { kind: 'none' }
  | ReadError;

/** What a comparison of the two pictures found (perceptual hashes; see media's perceptual-hash). */
export type PictureComparison = 'same' | 'differs' | 'unknown';

/** A pair of Exchange ETag and profile picture whose verdict photosync already knows. */
export interface Baseline {
  etag: string;
  profile: string;
  verdict: 'in_step' | 'differs';
  source: 'push' | 'compare';
}

/** Whether the profile shows an uploaded picture rather than the placeholder. */
export function showsPicture(profile: ProfilePicture): boolean {
  return profile.kind === 'profile' && profile.pictureUrl !== '' && profile.placeholderState !== 1;
}

/**
 * The profile's picture in one string: the same string means SharePoint's picture has not been
 * replaced since (every replacement, by SharePoint's own sync, an upload or a script, moves
 * SPS-PictureTimestamp or PictureURL).
 */
export function profileFingerprint(profile: ProfilePicture): string {
  if (profile.kind !== 'profile') return profile.kind;
  return JSON.stringify([profile.placeholderState, profile.timestamp, profile.pictureUrl]);
}
