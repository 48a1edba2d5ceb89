import { describe, expect, it } from 'vitest';
import { baselineFromComparison, decideTenantState, type TenantStateInputs } from './classify.js';
import { profileFingerprint, type ExchangePhoto, type ProfilePicture } from './model.js';

const PHOTO: ExchangePhoto = { kind: 'photo', etag: '"BA09D118"', side: 648 };
const NEW_PHOTO: ExchangePhoto = { kind: 'photo', etag: '"C0FFEE00"', side: 648 };
const PICTURE: ProfilePicture = {
  kind: 'profile',
  pictureUrl: 'https://contoso-my.sharepoint.com/User%20Photos/Profile%20Pictures/jane_contoso_com_MThumb.jpg',
  placeholderState: 0,
  exchangeSyncState: 1,
  timestamp: '63783110969',
};
const REPLACED: ProfilePicture = { ...PICTURE, timestamp: '63783119999' };
const PLACEHOLDER: ProfilePicture = { ...PICTURE, pictureUrl: '', placeholderState: 1, timestamp: '' };
const PUSHED = { etag: PHOTO.etag, profile: profileFingerprint(PICTURE), verdict: 'in_step', source: 'push' } as const;
const DIFFERED = { ...PUSHED, verdict: 'differs', source: 'compare' } as const;

function decide(overrides: Partial<TenantStateInputs>) {
  const inputs: TenantStateInputs = {
    hasMailbox: true,
    photo: PHOTO,
    profile: PICTURE,
    baseline: PUSHED,
    failing: undefined,
    ...overrides,
  };
  const decision = decideTenantState(inputs);
  return decision.kind === 'decided' ? decision.state : 'compare';
}

describe('decideTenantState', () => {
  // One row per rule, in the order the rules apply.
  it.each([
    ['no mailbox in the listing', { hasMailbox: false }, 'no_mailbox'],
    ['Graph says no mailbox', { photo: { kind: 'no_mailbox' } as ExchangePhoto }, 'no_mailbox'],
    [
      'pushes failing while out of step',
      { photo: NEW_PHOTO, failing: { since: 1, error: 'Access denied' } },
      'failing',
    ],
    ['a failure does not count once in step', { failing: { since: 1, error: 'Access denied' } }, 'in_step'],
    ['photo unreadable', { photo: { kind: 'error', message: '500' } as ExchangePhoto }, 'unknown'],
    ['profile unreadable', { profile: { kind: 'error', message: '503' } as ProfilePicture }, 'unknown'],
    ['photo removed, picture still shown', { photo: { kind: 'none' } as ExchangePhoto }, 'changed'],
    ['no photo, placeholder', { photo: { kind: 'none' } as ExchangePhoto, profile: PLACEHOLDER }, 'no_photo'],
    ['no SharePoint profile', { profile: { kind: 'none' } as ProfilePicture }, 'never_synced'],
    ['placeholder, never pushed', { profile: PLACEHOLDER, baseline: undefined }, 'never_synced'],
    ['placeholder after a push', { profile: PLACEHOLDER }, 'changed'],
    ['same ETag, same picture as pushed', {}, 'in_step'],
    ['same ETag, same picture, found different before', { baseline: DIFFERED }, 'changed'],
    ['new ETag, picture untouched since the push', { photo: NEW_PHOTO }, 'changed'],
    ['picture replaced since the push', { profile: REPLACED }, 'compare'],
    ['new ETag and picture replaced', { photo: NEW_PHOTO, profile: REPLACED }, 'compare'],
    ['never pushed, picture shown', { baseline: undefined }, 'compare'],
    ['compared: same', { baseline: undefined, comparison: 'same' as const }, 'in_step'],
    ['compared: differs', { baseline: undefined, comparison: 'differs' as const }, 'changed'],
    ['compared: cannot tell', { baseline: undefined, comparison: 'unknown' as const }, 'unknown'],
    ['a mailbox the listing did not report', { hasMailbox: null }, 'in_step'],
  ])('%s → %s', (_name, overrides, expected) => {
    expect(decide(overrides as Partial<TenantStateInputs>)).toBe(expected);
  });

  it('gives a reason a person can read', () => {
    const decision = decideTenantState({
      hasMailbox: true,
      photo: NEW_PHOTO,
      profile: PICTURE,
      baseline: PUSHED,
      failing: undefined,
    });
    expect(decision).toEqual({
      kind: 'decided',
      state: 'changed',
      code: 'exchange_changed',
      reason: 'The Exchange photo changed since SharePoint’s picture was set.',
    });
  });
});

describe('baselineFromComparison', () => {
  it('remembers a verdict so the same pair needs no pictures next time', () => {
    const baseline = baselineFromComparison(PHOTO, PICTURE, 'same');
    expect(baseline).toEqual({
      etag: PHOTO.etag,
      profile: profileFingerprint(PICTURE),
      verdict: 'in_step',
      source: 'compare',
    });
    expect(decide({ baseline })).toBe('in_step');
    expect(decide({ baseline: baselineFromComparison(PHOTO, PICTURE, 'differs') })).toBe('changed');
  });

  it('remembers nothing when the comparison could not tell', () => {
    expect(baselineFromComparison(PHOTO, PICTURE, 'unknown')).toBeUndefined();
  });
});
