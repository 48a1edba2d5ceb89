import { describe, expect, it } from 'vitest';
import { classify, isOutOfStep, SYNC_STATES, type SitePictureFacts, type SyncStateInputs } from './state.js';

// The rule on plain facts, as connect mode will call it. test/sync-state.test.ts checks every
// combination against the engine and the admin console's SQL on both databases.

const SPEC = '48,72,300';
const synced: SitePictureFacts = {
  placeholder: false,
  source: 'mail',
  syncedEtag: 'A',
  renditionSpec: SPEC,
  pictureTimestamp: 1,
};
const facts = (change: Partial<SyncStateInputs>): SyncStateInputs => ({
  hasMailbox: true,
  mailEtag: 'A',
  sitePicture: synced,
  renditionSpec: SPEC,
  failing: false,
  ...change,
});

describe('classify', () => {
  it('is in step only with the current mail photo, synced from the mail service, at the current sizes', () => {
    expect(classify(facts({}))).toBe('in_step');
    expect(classify(facts({ mailEtag: 'B' }))).toBe('changed');
    expect(classify(facts({ renditionSpec: '48,72,200' }))).toBe('changed');
    expect(classify(facts({ sitePicture: { ...synced, source: 'upload' } }))).toBe('changed');
    expect(classify(facts({ sitePicture: { ...synced, source: null, placeholder: true } }))).toBe('changed');
    expect(classify(facts({ sitePicture: null }))).toBe('never_synced');
  });

  it('counts a failure only while the sites are out of step', () => {
    expect(classify(facts({ failing: true }))).toBe('in_step');
    expect(classify(facts({ failing: true, mailEtag: 'B' }))).toBe('failing');
    expect(classify(facts({ failing: true, sitePicture: null }))).toBe('failing');
    expect(classify(facts({ failing: true, mailEtag: null, sitePicture: null }))).toBe('no_photo');
  });

  it('without a mail photo: no photo while the sites show the placeholder, changed while they show a picture', () => {
    expect(classify(facts({ mailEtag: null }))).toBe('changed');
    expect(classify(facts({ mailEtag: null, sitePicture: { ...synced, placeholder: true, source: null } }))).toBe(
      'no_photo',
    );
  });

  it('puts users without a mailbox apart, whatever else is true', () => {
    expect(classify(facts({ hasMailbox: false, mailEtag: 'B', failing: true }))).toBe('no_mailbox');
  });

  it('calls exactly the states that wait for the user out of step', () => {
    expect(SYNC_STATES.filter(isOutOfStep)).toEqual(['changed', 'never_synced', 'failing']);
  });
});
