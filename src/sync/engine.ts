import { performance } from 'node:perf_hooks';
import type { Kysely } from 'kysely';
import type { RenditionSizes } from '../config.js';
import type { DirectoryUser } from '../directory/users.js';
import { getMailPhoto, readMailMaster } from '../mail/photo-store.js';
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

export function createSyncEngine(deps: SyncEngineDeps): SyncEngine {
  async function decideAndApply(user: DirectoryUser, trigger: SyncTrigger, now: number): Promise<Decision> {
    const settings = deps.settings();
    const profile = await getSiteProfile(deps.db, user.id);
    const etagBefore = profile?.syncedEtag ?? null;

    if (!user.hasMailbox) {
      if (!profile) await markChecked(deps.db, user, now);
      return { outcome: 'no_mailbox', etagBefore, etagAfter: etagBefore, mailEtag: null };
    }

    const mail = await getMailPhoto(deps.db, user.id);
    const mailEtag = mail?.etag ?? null;
    const state = await getSyncState(deps.db, user.id);
    const skip = (outcome: SyncOutcome): Decision => ({ outcome, etagBefore, etagAfter: etagBefore, mailEtag });

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

    if (!mail) {
      const hadPicture = profile !== undefined && profile.placeholderState === 0;
      await showPlaceholder(deps, user, now);
      return { outcome: hadPicture ? 'removed' : 'no_photo', etagBefore, etagAfter: null, mailEtag };
    }

    const master = await readMailMaster(deps.blobs, mail);
    const { S, M, L } = settings.renditionSizes;
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
    return { outcome: 'synced', etagBefore, etagAfter: mail.etag, mailEtag };
  }

  return {
    async sync(user, trigger) {
      const startedAt = Date.now();
      const started = performance.now();
      let decision: Decision;
      let error: string | null = null;
      try {
        decision = await deps.lock.run(user.id, () => decideAndApply(user, trigger, Date.now()));
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
      return { attemptId, outcome: decision.outcome, etagBefore: decision.etagBefore, etagAfter: decision.etagAfter, durationMs, error };
    },
  };
}
