import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { RenditionSizes } from '../config.js';
import { squareJpegsFromUpload } from '../media/media.js';
import { RENDITION_SIZES } from '../sites/library.js';
import type { Database } from '../storage/database.js';
import { LockTimeoutError, type UserLock } from '../storage/user-lock.js';
import type { SyncOutcome, SyncTrigger } from '../sync/history.js';
import type { M365Connection } from './connection.js';
import { describeError, isTenantError, type TenantProblem } from './errors.js';
import {
  downloadPhoto,
  lookupUser,
  MAILBOX_NOT_SAID,
  mailboxNotSaid,
  MAX_PHOTO_BYTES,
  readPhotoMetadata,
} from './graph.js';
import { recordPushAttempt, type PushResult } from './history.js';
import {
  profileFingerprint,
  showsPicture,
  type ExchangePhoto,
  type ProfilePicture,
  type TenantReason,
  type TenantState,
} from './model.js';
import {
  accountFileStem,
  pictureTimestamp,
  libraryFileExists,
  readProfilePicture,
  renditionPath,
  renditionUrl,
  setProfileProperty,
  shownFileStem,
  uploadRendition,
} from './sharepoint.js';
import type { M365Settings } from './settings.js';
import type { TenantHttp } from './tenant-http.js';
import { tenantListed } from './scans.js';
import { ensureTenantUser, fileStemInUse, getTenantUsers, type TenantUserRecord } from './users.js';

// A push does for one user what SharePoint's own sync does, and leaves the profile exactly as
// that sync leaves it: the Exchange photo is downloaded once, S/M/L are rendered by the media
// module from one decode and uploaded to "User Photos/Profile Pictures" on the My Site host, then
// PictureURL (the M file), SPS-PicturePlaceholderState = 0, SPS-PictureExchangeSyncState = 1 and
// SPS-PictureTimestamp are set on the admin site. A removed Exchange photo sets the placeholder
// state back to 1. Every push that is not a dry run is recorded in the history.

export interface PushOptions {
  trigger: SyncTrigger;
  sizes: RenditionSizes;
  /** Decide and say what would happen, without downloading or writing anything. */
  dryRun?: boolean;
}

export interface PushDeps {
  db: Kysely<Database>;
  /** Connect mode's own lock (createLeaseLock): a push waits on the network, holding no connection. */
  lock: Pick<UserLock, 'run'>;
}

export type PushOutcome = SyncOutcome | 'would_push' | 'would_remove';

export interface PushReport {
  upn: string;
  outcome: PushOutcome;
  /** The Exchange ETag photosync had pushed before, and the one SharePoint shows now. */
  etagBefore: string | null;
  etagAfter: string | null;
  durationMs: number;
  imageBytes: number;
  error: string | null;
  /** For a push that failed on the tenant's side: what kind of failure (unreachable, consent …). */
  problem?: TenantProblem | undefined;
}

/** Outcome, what it leaves, and what it cost; `result` only when the user's state moved. */
interface Step {
  outcome: PushOutcome;
  result?: PushResult;
  etagAfter: string | null;
  imageBytes: number;
  error?: string;
  failedEtag?: string | null;
  problem?: TenantProblem;
  /** The tenant has no such user any more: recorded, and the user kept as gone. */
  gone?: true;
}

export async function pushTenantUser(
  connection: M365Connection,
  deps: PushDeps,
  user: TenantUserRecord,
  options: PushOptions,
): Promise<PushReport> {
  const waitStarted = performance.now();
  try {
    return await pushUnderLock(connection, deps, user, options);
  } catch (error) {
    // Another push of this user (another process) held the lock too long: "busy", as a sync is;
    // not recorded, the push that holds it records its own. Otherwise the lock's own store failed
    // (the database, not the tenant): the push did not run. Either way the caller's other pushes
    // go on, and a run's audit entry is written.
    const busy = error instanceof LockTimeoutError;
    return {
      upn: user.upn,
      outcome: busy ? 'busy' : 'failed',
      etagBefore: user.baseline?.source === 'push' ? user.baseline.etag : null,
      etagAfter: null,
      durationMs: performance.now() - waitStarted,
      imageBytes: 0,
      error: busy ? error.message : `The push could not start: ${describeError(error)}`,
    };
  }
}

function pushUnderLock(
  connection: M365Connection,
  deps: PushDeps,
  known: TenantUserRecord,
  options: PushOptions,
): Promise<PushReport> {
  return deps.lock.run(`m365:${known.id}`, async () => {
    const startedAt = connection.clock.now();
    const started = performance.now();
    // The user as the push that held the lock before this one left them: read before the lock,
    // its baseline would not show that push, and two pushes at once (two runs, a double click)
    // would both write the same photo into SharePoint.
    const user = (await getTenantUsers(deps.db, [known.id])).get(known.id) ?? known;
    let step: Step;
    try {
      step = await push(connection, deps.db, user, options);
    } catch (error) {
      step = {
        outcome: 'failed',
        etagAfter: null,
        imageBytes: 0,
        error: describeError(error),
        ...(isTenantError(error) ? { problem: error.problem } : {}),
      };
    }
    const report: PushReport = {
      upn: user.upn,
      outcome: step.outcome,
      etagBefore: user.baseline?.source === 'push' ? user.baseline.etag : null,
      etagAfter: step.etagAfter,
      durationMs: performance.now() - started,
      imageBytes: step.imageBytes,
      error: step.error ?? null,
      problem: step.problem,
    };
    // A dry run writes nothing, whatever it found (also "already in step" or "no photo").
    const { outcome } = step;
    if (!options.dryRun && outcome !== 'would_push' && outcome !== 'would_remove') {
      await recordReport(report, () =>
        recordPushAttempt(
          deps.db,
          {
            userId: user.id,
            trigger: options.trigger,
            outcome,
            startedAt,
            durationMs: report.durationMs,
            etagBefore: report.etagBefore,
            etagAfter: report.etagAfter,
            error: report.error,
          },
          step.failedEtag ?? null,
          step.result,
          step.gone ? 'user_gone' : step.problem === 'unreachable' ? 'none' : 'answered',
        ),
      );
    }
    return report;
  });
}

/**
 * Writes a push's record. What the push did in SharePoint stands whether or not it is recorded:
 * a record that fails (a full disk, a lost database connection) is said in the report's error,
 * and the caller's other pushes go on; the next scan finds the user's state again.
 */
async function recordReport(report: PushReport, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (error) {
    const said = `photosync could not record it: ${describeError(error)}`;
    report.error = report.error ? `${report.error} (${said})` : `${capitalised(said)}.`;
  }
}

const capitalised = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

const settled = (state: TenantState, code: TenantReason, reason: string): PushResult => ({ state, code, reason });

async function push(
  connection: M365Connection,
  db: Kysely<Database>,
  known: TenantUserRecord,
  options: PushOptions,
): Promise<Step> {
  const { http, settings } = connection;
  let user = known;
  // Fresh readings: a scan's may be hours old. First who the user is now, asked of Graph by object
  // id, the one name that never changes: SharePoint knows people (account name, file names) by
  // their UPN, which an administrator may have changed since the scan, and the ID token's
  // preferred_username, which names someone known only from their sign-in, need not be it. The
  // same answer says whether they have a mailbox (for a user without one Graph's photo is the
  // Entra ID photo, which the sites must never take), or that they are no longer in the tenant.
  const listed = await lookupUser(http, settings.graphUrl, user.id);
  if (!listed) return goneFromTenant(user);
  const hasMailbox: boolean | typeof MAILBOX_NOT_SAID = listed.hasMailbox ?? user.hasMailbox ?? MAILBOX_NOT_SAID;
  if (
    listed.upn !== user.upn ||
    listed.displayName !== user.displayName ||
    (listed.hasMailbox !== null && listed.hasMailbox !== user.hasMailbox)
  ) {
    if (!options.dryRun) await ensureTenantUser(db, { ...listed, hasMailbox: listed.hasMailbox ?? user.hasMailbox });
    user = { ...user, upn: listed.upn, displayName: listed.displayName };
  }
  const photo: ExchangePhoto =
    hasMailbox === false
      ? { kind: 'no_mailbox' }
      : hasMailbox === MAILBOX_NOT_SAID
        ? mailboxNotSaid
        : await readPhotoMetadata(http, settings.graphUrl, user.id);
  if (photo.kind === 'no_mailbox') {
    return {
      outcome: 'no_mailbox',
      etagAfter: null,
      imageBytes: 0,
      result: settled(
        'no_mailbox',
        'no_mailbox',
        'No Exchange Online mailbox: SharePoint never takes this user’s photo from Exchange.',
      ),
    };
  }
  if (photo.kind === 'error') return failed(`The Exchange photo could not be read: ${photo.message}`, null);
  const profile = await readProfilePicture(http, settings, user.upn);
  if (profile.kind === 'error') return failed(profile.message, photoEtag(photo));
  if (photo.kind === 'none') {
    if (!showsPicture(profile)) {
      return {
        outcome: 'no_photo',
        etagAfter: null,
        imageBytes: 0,
        result: settled('no_photo', 'no_photo', 'No Exchange photo; SharePoint shows the placeholder.'),
      };
    }
    if (options.dryRun) return { outcome: 'would_remove', etagAfter: null, imageBytes: 0 };
    const now = connection.clock.now();
    await setProfileProperty(http, settings, user.upn, 'SPS-PicturePlaceholderState', '1');
    await setProfileProperty(http, settings, user.upn, 'SPS-PictureTimestamp', pictureTimestamp(now));
    return {
      outcome: 'removed',
      etagAfter: null,
      imageBytes: 0,
      result: settled(
        'no_photo',
        'pushed_removal',
        'The Exchange photo was removed; photosync set SharePoint back to the placeholder.',
      ),
    };
  }

  // Only a photo to push needs the profile: no photo and no profile is "no photo", as classify says.
  if (profile.kind === 'none') {
    return failed(
      `${user.upn} has no SharePoint user profile yet (SharePoint makes one when the user is licensed and synced from Entra ID); try again later.`,
      photoEtag(photo),
    );
  }

  const baseline = user.baseline;
  if (
    baseline?.verdict === 'in_step' &&
    baseline.etag === photo.etag &&
    baseline.profile === profileFingerprint(profile)
  ) {
    return {
      outcome: 'unchanged',
      etagAfter: photo.etag,
      imageBytes: 0,
      result: {
        ...settled(
          'in_step',
          'same_as_before',
          'Same Exchange photo and same SharePoint picture as when they were last found in step.',
        ),
        baseline,
      },
    };
  }
  if (options.dryRun) return { outcome: 'would_push', etagAfter: null, imageBytes: 0 };

  const download = await downloadPhoto(http, settings.graphUrl, user.id);
  if (download.kind === 'none')
    return failed('The Exchange photo was removed while photosync was reading it; try again.', photo.etag);
  // Graph's bytes are another service's: they go through the same checks as an upload, and are
  // decoded once for all three sizes (no master is kept here, so none is made).
  const sides = RENDITION_SIZES.map((size) => options.sizes[size]);
  const rendered = await squareJpegsFromUpload(download.bytes, { sides, maxBytes: MAX_PHOTO_BYTES });
  if (!rendered.ok)
    return failed(`The Exchange photo cannot be used: ${rendered.message}`, photo.etag, download.bytes.length);
  const stem = await fileStemFor(db, http, settings, user, profile.pictureUrl);
  for (const [i, size] of RENDITION_SIZES.entries()) {
    await uploadRendition(http, settings, stem, size, rendered.renditions[i]!.jpeg);
  }
  const timestamp = pictureTimestamp(connection.clock.now());
  const properties: [string, string][] = [
    ['PictureURL', renditionUrl(settings, stem, 'M')],
    ['SPS-PicturePlaceholderState', '0'],
    ['SPS-PictureExchangeSyncState', '1'],
    ['SPS-PictureTimestamp', timestamp],
  ];
  for (const [name, value] of properties) await setProfileProperty(http, settings, user.upn, name, value);

  // The baseline is the profile as SharePoint now reports it, not as photosync wrote it, so the
  // next scan compares like with like.
  const after = await readProfilePicture(http, settings, user.upn);
  const written: ProfilePicture =
    after.kind === 'profile'
      ? after
      : { kind: 'profile', pictureUrl: properties[0]![1], placeholderState: 0, exchangeSyncState: 1, timestamp };
  return {
    outcome: 'synced',
    etagAfter: photo.etag,
    imageBytes: download.bytes.length,
    result: {
      ...settled('in_step', 'pushed', 'photosync pushed the Exchange photo into SharePoint.'),
      baseline: { etag: photo.etag, profile: profileFingerprint(written), verdict: 'in_step', source: 'push' },
      pictureUrl: written.pictureUrl,
    },
  };
}

/**
 * The name the pushed files get in "User Photos/Profile Pictures". SharePoint names them after
 * the UPN with every other character made "_", so a.b@contoso.com and a_b@contoso.com share
 * a_b_contoso_com and a push for one would overwrite the other's face. A name made from a UPN is
 * used only while photosync knows every user who could share it, that is after a scan listed the
 * whole tenant; before that every push writes a name with a short hash of the UPN, which is the
 * user's alone (and stays theirs). After it: the user keeps the file their profile shows when no
 * other user has that name (by UPN, or by the picture their profile showed at the scan; users who
 * left count, their files stay); otherwise gets the UPN's name when no other user has it and the
 * library has no M file by it (one there that the profile does not show may be a twin's who
 * joined since the scan, or the user's own left behind); otherwise the hashed name.
 */
async function fileStemFor(
  db: Kysely<Database>,
  http: TenantHttp,
  settings: M365Settings,
  user: TenantUserRecord,
  pictureUrl: string,
): Promise<string> {
  const shown = shownFileStem(settings, pictureUrl);
  const named = accountFileStem(user.upn);
  const hashed = `${named}_${createHash('sha256').update(user.upn.toLowerCase()).digest('hex').slice(0, 8)}`;
  if (shown === hashed || !(await tenantListed(db))) return hashed;
  if (shown && !(await fileStemInUse(db, user.id, shown))) return shown;
  if (named === shown || (await fileStemInUse(db, user.id, named))) return hashed;
  return (await libraryFileExists(http, settings, renditionPath(named, 'M'))) ? hashed : named;
}

/** The tenant has no user with this object id: they were deleted, or moved to another tenant. */
function goneFromTenant(user: TenantUserRecord): Step {
  return {
    ...failed(
      `${user.displayName} (${user.upn}) is no longer in the tenant: Microsoft Graph has no user with their object id ` +
        `${user.id}, so they were deleted or moved to another tenant. photosync no longer lists them.`,
      null,
    ),
    gone: true,
  };
}

function photoEtag(photo: ExchangePhoto): string | null {
  return photo.kind === 'photo' ? photo.etag : null;
}

function failed(error: string, failedEtag: string | null, imageBytes = 0): Step {
  return { outcome: 'failed', etagAfter: null, imageBytes, error, failedEtag };
}
