// Whether a user's site pictures are in step with their mail photo, and why not: the one home of
// that decision. The sync engine acts on it, the status report and the admin console show it, and
// connect mode (a real tenant) judges its users with it too, so the inputs are plain facts, never
// rows of our tables. The admin console's status triggers repeat it in SQL (the newest migration
// that writes `admin_refresh_status`, 2026-12-21-02); test/sync-state.test.ts proves the two agree.

export const SYNC_STATES = ['in_step', 'changed', 'never_synced', 'no_photo', 'no_mailbox', 'failing'] as const;
export type SyncStateName = (typeof SYNC_STATES)[number];

/** The states in which the sites need the user's next action: worth a prompt, and work for the engine. */
export const OUT_OF_STEP_STATES = ['changed', 'never_synced', 'failing'] as const satisfies readonly SyncStateName[];

/** The states that a change of the configured rendition sizes can move a user into or out of. */
export const SIZE_DEPENDENT_STATES = ['in_step', 'changed', 'failing'] as const satisfies readonly SyncStateName[];

export const SYNC_STATE_LABELS: Record<SyncStateName, string> = {
  in_step: 'in step',
  changed: 'changed since last sync',
  never_synced: 'never synced',
  no_photo: 'no mail photo',
  no_mailbox: 'no mailbox',
  failing: 'failing',
};

/** What the sites show for a user (their SPS-Picture* properties and where the picture came from). */
export interface SitePictureFacts {
  /** SPS-PicturePlaceholderState = 1: the sites show the generic placeholder. */
  placeholder: boolean;
  /** Where the shown picture came from; null while the placeholder is shown. */
  source: 'mail' | 'upload' | null;
  /** The mail photo's ETag the renditions were made from; null for an upload or the placeholder. */
  syncedEtag: string | null;
  /** The S,M,L sizes the renditions were made at, e.g. "48,72,300". */
  renditionSpec: string | null;
  /** SPS-PictureTimestamp: null until the first sync or upload. */
  pictureTimestamp: number | null;
}

export interface SyncStateInputs {
  hasMailbox: boolean;
  /** The mail photo's ETag; null when the mailbox holds no photo. */
  mailEtag: string | null;
  /** Null when the sites have no profile for the user yet (they show the placeholder). */
  sitePicture: SitePictureFacts | null;
  /** The S,M,L sizes configured now: pictures made at other sizes are out of step. */
  renditionSpec: string;
  /** The last sync attempt failed on this mail photo (`failsOnPhoto`), until an attempt that does not fail. */
  failing: boolean;
}

/**
 * Whether a running failure is one of this mail photo: a new photo (or its removal) waits for the
 * user's action like any change, until an attempt fails on it too. A failure before the photo was
 * read (`failedEtag` null) counts for whatever photo there is.
 */
export function failsOnPhoto(failingSince: number | null, failedEtag: string | null, mailEtag: string | null): boolean {
  return failingSince !== null && (failedEtag === null || failedEtag === mailEtag);
}

/**
 * The user's state. Pictures that are in step are "in step" (or "no photo") whatever happened
 * before: a failure counts only while the sites are out of step, so a photo changed back to the
 * one the sites show is not reported as failing.
 */
export function classify(inputs: SyncStateInputs): SyncStateName {
  const { mailEtag, sitePicture: site } = inputs;
  if (!inputs.hasMailbox) return 'no_mailbox';
  if (mailEtag === null) {
    if (site === null || site.placeholder) return 'no_photo';
    return inputs.failing ? 'failing' : 'changed';
  }
  const everSynced = site !== null && site.pictureTimestamp !== null;
  if (
    everSynced &&
    site.source === 'mail' &&
    site.syncedEtag === mailEtag &&
    site.renditionSpec === inputs.renditionSpec
  ) {
    return 'in_step';
  }
  if (inputs.failing) return 'failing';
  return everSynced ? 'changed' : 'never_synced';
}

/** True for the states in which the sites wait for the user's next action. */
export function isOutOfStep(state: SyncStateName): state is (typeof OUT_OF_STEP_STATES)[number] {
  return (OUT_OF_STEP_STATES as readonly SyncStateName[]).includes(state);
}
