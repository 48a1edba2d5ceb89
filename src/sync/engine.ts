import { performance } from 'node:perf_hooks';
import type { Kysely } from 'kysely';
import type { RenditionSizes } from '../config.js';
import type { DirectoryUser } from '../directory/users.js';
import { getMailPhoto, readMailMaster, type MailPhoto } from '../mail/photo-store.js';
import { renderSquareJpegs } from '../media/media.js';
import type { Metrics } from '../metrics.js';
import { getSiteProfile, markChecked, publishRenditions, showPlaceholder } from '../sites/profiles.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { Database } from '../storage/database.js';
import type { UserLock } from '../storage/user-lock.js';
import { getSyncState, recordAttempt, type SyncOutcome, type SyncTrigger } from './history.js';

// The pull from the mail service into the sites, run only when a user acts. It decides "changed?"
// from ETags alone; image bytes are read and decoded only when the sites are out of step.

export interface SyncSettings {
  renditionSizes: RenditionSizes;
  recheckSeconds: number;
  errorBackoffSeconds: number;
}

export interface SyncEngineDeps {
  db: Kysely<Database>;
  blobs: BlobStore;
  lock: UserLock;
  metrics: Metrics;
  settings: () => SyncSettings;
  faultPoint?: (name: string) => void;
}

export interface SyncResult {
  attemptId: number;
  outcome: SyncOutcome;
  etagBefore: string | null;
  etagAfter: string | null;
  durationMs: number;
  error: string | null;
}

export interface SyncEngine {
  sync(user: DirectoryUser, trigger: SyncTrigger): Promise<SyncResult>;
}

type Decision = { outcome: SyncOutcome; etagBefore: string | null; etagAfter: string | null; mailEtag: string | null };

/** What the sites need: nothing more (a decision), the placeholder, or new renditions. */
type Assessment =
  | { decided: Decision }
  | { work: 'placeholder'; etagBefore: string | null; hadPicture: boolean }
  | { work: 'render'; etagBefore: string | null; mail: MailPhoto };

export function createSyncEngine(deps: SyncEngineDeps): SyncEngine {
  /** Reads three small rows and decides; writes nothing but the "checked" time. */
  async function assess(user: DirectoryUser, trigger: SyncTrigger, now: number): Promise<Assessment> {
    const settings = deps.settings();
    const profile = await getSiteProfile(deps.db, user.id);
    const etagBefore = profile?.syncedEtag ?? null;

    if (!user.hasMailbox) {
      if (!profile) await markChecked(deps.db, user, now);
      return { decided: { outcome: 'no_mailbox', etagBefore, etagAfter: etagBefore, mailEtag: null } };
    }

    const mail = await getMailPhoto(deps.db, user.id);
    const mailEtag = mail?.etag ?? null;
    const state = await getSyncState(deps.db, user.id);
    const skip = (outcome: SyncOutcome) => ({ decided: { outcome, etagBefore, etagAfter: etagBefore, mailEtag } });

    if (state?.retryAfter && state.retryAfter > now && state.failedEtag === mailEtag) return skip('backing_off');
    if (
      trigger === 'photo_request' &&
      settings.recheckSeconds > 0 &&
      profile?.lastCheckedAt &&
      now - profile.lastCheckedAt < settings.recheckSeconds * 1000
    ) {
      return skip('recently_checked');
    }

    const inStep = profile !== undefined && profile.pictureSource !== 'upload' && etagBefore === mailEtag;
    if (inStep) {
      await markChecked(deps.db, user, now);
      return skip(mailEtag === null ? 'no_photo' : 'unchanged');
    }
    if (!mail) return { work: 'placeholder', etagBefore, hadPicture: profile?.placeholderState === 0 };
    return { work: 'render', etagBefore, mail };
  }

  async function apply(user: DirectoryUser, needed: Exclude<Assessment, { decided: Decision }>, now: number) {
    if (needed.work === 'placeholder') {
      await showPlaceholder(deps, user, now);
      const outcome = needed.hadPicture ? 'removed' : 'no_photo';
      return { outcome, etagBefore: needed.etagBefore, etagAfter: null, mailEtag: null } satisfies Decision;
    }
    const { mail } = needed;
    const master = await readMailMaster(deps.blobs, mail);
    const { S, M, L } = deps.settings().renditionSizes;
    const [small, medium, large] = await renderSquareJpegs(master, [S, M, L]);
    if (!small || !medium || !large) throw new Error('The renderer returned fewer renditions than asked for.');
    deps.metrics.renders.inc({ source: 'mail' });
    deps.faultPoint?.('after-render');
    await publishRenditions(deps, user, {
      jpegs: { S: small, M: medium, L: large },
      source: 'mail',
      syncedEtag: mail.etag,
      at: now,
    });
    return {
      outcome: 'synced',
      etagBefore: needed.etagBefore,
      etagAfter: mail.etag,
      mailEtag: mail.etag,
    } satisfies Decision;
  }

  /**
   * The common case (in step) is decided without the lock. Work is done under the user's lock,
   * after assessing again: a sync that ran while this one waited leaves nothing to do.
   */
  async function decide(user: DirectoryUser, trigger: SyncTrigger): Promise<Decision> {
    const first = await assess(user, trigger, Date.now());
    if ('decided' in first) return first.decided;
    return deps.lock.run(user.id, async () => {
      const now = Date.now();
      const current = await assess(user, trigger, now);
      return 'decided' in current ? current.decided : apply(user, current, now);
    });
  }

  return {
    async sync(user, trigger) {
      const startedAt = Date.now();
      const started = performance.now();
      let decision: Decision;
      let error: string | null = null;
      try {
        decision = await decide(user, trigger);
      } catch (cause) {
        error = cause instanceof Error ? cause.message : String(cause);
        const mail = await getMailPhoto(deps.db, user.id).catch(() => undefined);
        const profile = await getSiteProfile(deps.db, user.id).catch(() => undefined);
        const etag = profile?.syncedEtag ?? null;
        decision = { outcome: 'failed', etagBefore: etag, etagAfter: etag, mailEtag: mail?.etag ?? null };
      }
      const durationMs = performance.now() - started;
      const attemptId = await recordAttempt(
        deps.db,
        {
          userId: user.id,
          trigger,
          outcome: decision.outcome,
          startedAt,
          durationMs,
          etagBefore: decision.etagBefore,
          etagAfter: decision.etagAfter,
          error,
        },
        decision.mailEtag,
        deps.settings().errorBackoffSeconds * 1000,
      );
      deps.metrics.syncs.inc({ trigger, outcome: decision.outcome });
      deps.metrics.syncSeconds.observe({ outcome: decision.outcome }, durationMs / 1000);
      return {
        attemptId,
        outcome: decision.outcome,
        etagBefore: decision.etagBefore,
        etagAfter: decision.etagAfter,
        durationMs,
        error,
      };
    },
  };
}
