import {
  profileFingerprint,
  showsPicture,
  type Baseline,
  type ExchangePhoto,
  type PictureComparison,
  type ProfilePicture,
  type TenantState,
} from './model.js';

// Which state a tenant user is in, decided from plain data, and whether deciding needs the two
// pictures compared. This is the drift decision: an Exchange ETag and a profile picture seen
// together before give the same verdict again without reading a byte of either picture.
//
// WHEN src/sync/state.ts (the one `classify(inputs)` for every state) lands, the final mapping
// below (`decided(...)` calls) moves there: this function keeps the tenant-only part (the
// baseline and whether a comparison is needed) and asks `classify` for the state.

export interface TenantStateInputs {
  /** From the user listing; null = the tenant did not say. */
  hasMailbox: boolean | null;
  photo: ExchangePhoto;
  profile: ProfilePicture;
  baseline: Baseline | undefined;
  /** The running failure of pushes into SharePoint, if any. */
  failing: { since: number; error: string } | undefined;
  /** The pictures' comparison, when one was made for this decision. */
  comparison?: PictureComparison;
}

export type TenantDecision =
  | { kind: 'decided'; state: TenantState; reason: string }
  /** Only comparing the pictures can tell; call again with `comparison`. */
  | { kind: 'compare'; reason: string };

const decided = (state: TenantState, reason: string): TenantDecision => ({ kind: 'decided', state, reason });

export function decideTenantState(inputs: TenantStateInputs): TenantDecision {
  const { photo, profile, baseline } = inputs;
  if (inputs.hasMailbox === false || photo.kind === 'no_mailbox') {
    return decided('no_mailbox', 'No Exchange Online mailbox: SharePoint never takes this user’s photo from Exchange.');
  }
  if (inputs.failing) return decided('failing', inputs.failing.error);
  if (photo.kind === 'error') return decided('unknown', `Exchange photo could not be read: ${photo.message}`);
  if (profile.kind === 'error') return decided('unknown', `SharePoint profile could not be read: ${profile.message}`);

  if (photo.kind === 'none') {
    return showsPicture(profile)
      ? decided('changed', 'The Exchange photo was removed; SharePoint still shows a picture.')
      : decided('no_photo', 'No Exchange photo; SharePoint shows the placeholder.');
  }
  if (profile.kind === 'none') return decided('never_synced', 'The user has no SharePoint profile yet.');
  if (!showsPicture(profile)) {
    return baseline
      ? decided('changed', 'SharePoint shows the placeholder again although it had this user’s picture.')
      : decided('never_synced', 'SharePoint shows the placeholder; the Exchange photo has never reached it.');
  }

  const fingerprint = profileFingerprint(profile);
  if (baseline && baseline.profile === fingerprint) {
    if (baseline.etag !== photo.etag)
      return decided('changed', 'The Exchange photo changed since SharePoint’s picture was set.');
    return baseline.verdict === 'in_step'
      ? decided('in_step', 'Same Exchange photo and same SharePoint picture as when they were last found in step.')
      : decided('changed', 'SharePoint shows a different picture from the Exchange photo (compared before).');
  }

  // Nothing known about this pair: photosync never pushed it, or SharePoint's picture was replaced
  // since (SharePoint's own sync, an upload, a script). Only the pictures can tell.
  switch (inputs.comparison) {
    case undefined:
      return {
        kind: 'compare',
        reason: baseline ? 'SharePoint’s picture was replaced since photosync last saw it.' : 'Never compared.',
      };
    case 'same':
      return decided('in_step', 'SharePoint’s picture shows the Exchange photo (compared).');
    case 'differs':
      return decided('changed', 'SharePoint shows a different picture from the Exchange photo (compared).');
    case 'unknown':
      return decided('unknown', 'The pictures could not be compared.');
  }
}

/** The baseline a comparison leaves behind, so the next scan needs no pictures for the same pair. */
export function baselineFromComparison(
  photo: ExchangePhoto,
  profile: ProfilePicture,
  comparison: PictureComparison,
): Baseline | undefined {
  if (photo.kind !== 'photo' || comparison === 'unknown') return undefined;
  return {
    etag: photo.etag,
    profile: profileFingerprint(profile),
    verdict: comparison === 'same' ? 'in_step' : 'differs',
    source: 'compare',
  };
}
