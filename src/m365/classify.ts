import { classify, type SitePictureFacts } from '../sync/state.js';
import {
  profileFingerprint,
  showsPicture,
  type Baseline,
  type ExchangePhoto,
  type PictureComparison,
  type ProfilePicture,
  type TenantReason,
  type TenantState,
} from './model.js';

// Which state a tenant user is in, and whether deciding needs the two pictures compared. The
// state itself comes from the one `classify` in src/sync/state.ts, as for photosync's own users:
// this function turns what the tenant told (an Exchange ETag, SharePoint's profile properties, the
// baseline of an earlier push or comparison) into its facts. A baseline, an Exchange ETag and a
// profile picture seen together before give the same verdict again without reading a byte of either
// picture; only a pair never seen together needs the pictures compared.

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
  | { kind: 'decided'; state: TenantState; code: TenantReason; reason: string }
  /** Only comparing the pictures can tell; call again with `comparison`. */
  | { kind: 'compare'; reason: string };

/** SharePoint Online makes its own renditions; their sizes are never out of step with a setting. */
const TENANT_RENDITIONS = 'sharepoint';

/** SharePoint's picture as the sync state's facts; `mailEtag` = the Exchange photo it shows, if it does. */
function pictureFacts(
  shows: 'placeholder' | 'mail' | 'other',
  mailEtag: string | null,
  everSet: boolean,
): SitePictureFacts {
  return {
    placeholder: shows === 'placeholder',
    source: shows === 'placeholder' ? null : shows === 'mail' ? 'mail' : 'upload',
    syncedEtag: shows === 'mail' ? mailEtag : null,
    renditionSpec: TENANT_RENDITIONS,
    pictureTimestamp: everSet ? 1 : null,
  };
}

export function decideTenantState(inputs: TenantStateInputs): TenantDecision {
  const { photo, profile, baseline } = inputs;
  const judged = (
    mailEtag: string | null,
    site: SitePictureFacts | null,
    code: TenantReason,
    reason: string,
  ): TenantDecision => {
    const state = classify({
      hasMailbox: true,
      mailEtag,
      sitePicture: site,
      renditionSpec: TENANT_RENDITIONS,
      failing: inputs.failing !== undefined,
    });
    return state === 'failing' && inputs.failing
      ? { kind: 'decided', state, code: 'push_failed', reason: inputs.failing.error }
      : { kind: 'decided', state, code, reason };
  };

  if (inputs.hasMailbox === false || photo.kind === 'no_mailbox') {
    const state = classify({ hasMailbox: false, mailEtag: null, sitePicture: null, renditionSpec: '', failing: false });
    return {
      kind: 'decided',
      state,
      code: 'no_mailbox',
      reason: 'No Exchange Online mailbox: SharePoint never takes this user’s photo from Exchange.',
    };
  }
  // What the tenant could not tell: a state of connect mode alone.
  if (photo.kind === 'error')
    return unknown('exchange_unreadable', `Exchange photo could not be read: ${photo.message}`);
  if (profile.kind === 'error')
    return unknown('profile_unreadable', `SharePoint profile could not be read: ${profile.message}`);

  if (photo.kind === 'none') {
    return showsPicture(profile)
      ? judged(
          null,
          pictureFacts('other', null, true),
          'removed_still_shown',
          'The Exchange photo was removed; SharePoint still shows a picture.',
        )
      : judged(
          null,
          pictureFacts('placeholder', null, false),
          'no_photo',
          'No Exchange photo; SharePoint shows the placeholder.',
        );
  }
  if (profile.kind === 'none') return judged(photo.etag, null, 'no_profile', 'The user has no SharePoint profile yet.');
  if (!showsPicture(profile)) {
    return baseline
      ? judged(
          photo.etag,
          pictureFacts('placeholder', null, true),
          'placeholder_again',
          'SharePoint shows the placeholder again although it had this user’s picture.',
        )
      : judged(
          photo.etag,
          pictureFacts('placeholder', null, false),
          'placeholder_never',
          'SharePoint shows the placeholder; the Exchange photo has never reached it.',
        );
  }

  if (baseline && baseline.profile === profileFingerprint(profile)) {
    // The same SharePoint picture as when the baseline was taken: it shows the baseline's photo, or not.
    const shown = pictureFacts(baseline.verdict === 'in_step' ? 'mail' : 'other', baseline.etag, true);
    if (baseline.etag !== photo.etag)
      return judged(
        photo.etag,
        shown,
        'exchange_changed',
        'The Exchange photo changed since SharePoint’s picture was set.',
      );
    return baseline.verdict === 'in_step'
      ? judged(
          photo.etag,
          shown,
          'same_as_before',
          'Same Exchange photo and same SharePoint picture as when they were last found in step.',
        )
      : judged(
          photo.etag,
          shown,
          'differs_before',
          'SharePoint shows a different picture from the Exchange photo (compared before).',
        );
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
      return judged(
        photo.etag,
        pictureFacts('mail', photo.etag, true),
        'compared_same',
        'SharePoint’s picture shows the Exchange photo (compared).',
      );
    case 'differs':
      return judged(
        photo.etag,
        pictureFacts('other', null, true),
        'compared_differs',
        'SharePoint shows a different picture from the Exchange photo (compared).',
      );
    case 'unknown':
      return unknown('not_comparable', 'The pictures could not be compared.');
  }
}

const unknown = (code: TenantReason, reason: string): TenantDecision => ({
  kind: 'decided',
  state: 'unknown',
  code,
  reason,
});

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
