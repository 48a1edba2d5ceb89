import { performance } from 'node:perf_hooks';
import type { CompiledQuery, Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { RenditionSizes } from '../config.js';
import type { DirectoryUser } from '../directory/users.js';
import { isAppError, notFound } from '../errors.js';
import {
  getMailPhoto,
  getSitesRenditions,
  keptRenditions,
  type MailPhoto,
  type SitesRenditions,
} from '../mail/photo-store.js';
import { renderSquareJpegs } from '../media/media.js';
import type { Metrics } from '../metrics.js';
import { renditionSpec } from '../sites/library.js';
import type { RenditionSize } from '../sites/library.js';
import {
  getSiteProfile,
  markProfileChecked,
  publishRenditions,
  showPlaceholder,
  type Rendition,
} from '../sites/profiles.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { ByteCache } from '../storage/byte-cache.js';
import { describeStorageFault, storageFaultCode } from '../storage/faults.js';
import type { Database, Db } from '../storage/database.js';
import { LockTimeoutError, type UserLock } from '../storage/user-lock.js';
import {
  isKept,
  recordAttempt,
  recordWithSwitch,
  type CheckedMark,
  type RepeatedChecks,
  type SyncAttempt,
  type SyncOutcome,
  type SyncTrigger,
} from './history.js';
import { FROM_DIRECTORY, FROM_SYNC_INPUTS, NOT_CACHED, type ReadCache } from '../storage/read-cache.js';
import {
  getSyncInputs,
  inputsOf,
  syncInputsQuery,
  syncReadQuery,
  syncStateInputs,
  type InputsRow,
  type PictureView,
  type SyncInputs,
  type SyncReadRow,
} from './inputs.js';
import { classify, isOutOfStep } from './state.js';

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
  /** Where a sync puts the renditions it switched to, for their first views (see SitesDeps). */
  pictureBytes?: ByteCache;
  lock: UserLock;
  metrics: Metrics;
  settings: () => SyncSettings;
  /**
   * Undefined when `settings()` is current, else the read that makes it so (another instance
   * changed them, or they were read more than a moment ago): a sync waits for it before deciding.
   */
  settingsCurrent?: () => Promise<unknown> | undefined;
  /**
   * Where the inputs of the first assessment (the one without the lock) are kept while nothing
   * they were read from changes: an in-step check then costs no read. What is done under the lock
   * is always decided from inputs read under it.
   */
  reads?: ReadCache;
  faultPoint?: (name: string) => void;
  /** Where a failed sync is told, with its cause (the attempt's record keeps only the message). */
  log?: Pick<Logger, 'info' | 'error'>;
}

export interface SyncResult {
  outcome: SyncOutcome;
  etagBefore: string | null;
  etagAfter: string | null;
  durationMs: number;
  error: string | null;
  /** After `synced`: the renditions this sync switched to, as they were committed. */
  renditions?: Record<RenditionSize, Rendition>;
  /** Settles once the attempt is recorded: at once, unless `answerBeforeRecord` let it be written later. */
  recorded: Promise<void>;
}

export interface SyncOptions {
  /**
   * A check that changed nothing (`unchanged`, `recently_checked`) is answered before its record
   * is written; `recorded` settles once it is. Such checks of one user are gathered for
   * `GATHER_MS` and written as one record that counts them all. The record is history and the
   * "checked" time, not the picture: lost in a crash, it leaves the state as it was before the
   * checks. Other outcomes are recorded before the answer, as without this.
   */
  answerBeforeRecord?: boolean;
  /**
   * Written in the commit that records the attempt, which is the commit that switches the
   * sites' pictures when the sync does: an operator's audit entry, so that a sync is never done
   * without it (nor recorded without being done). The attempt is recorded before the answer then,
   * even with `answerBeforeRecord`.
   */
  alsoRecord?: AlsoRecord;
}

/** A write beside an attempt's record, in its commit, told what the attempt came to. */
export type AlsoRecord = (trx: Db, attempt: { outcome: SyncOutcome; error: string | null }) => Promise<unknown>;

export interface SyncEngine {
  sync(user: DirectoryUser, trigger: SyncTrigger, options?: SyncOptions): Promise<SyncResult>;
  /** What a sync of the user decides from first, as `sync` reads it (from the read cache when it holds them). */
  readInputs(userId: string): Promise<SyncInputs>;
  /** Writes the checks gathered and waits for the records and removals still going on (before the database is closed). */
  settle(): Promise<void>;
  /** Writes the checks gathered so far and waits for them (and for those being written), nothing else. */
  writeChecks(): Promise<void>;
}

/** Outcomes that change nothing the sites show, whose record may follow the answer. */
const RECORDED_LATER: ReadonlySet<SyncOutcome> = new Set(['unchanged', 'recently_checked']);

/** How long in-step checks answered first are gathered before their one record is written. */
const GATHER_MS = 200;

/** Checks of one user with the same trigger, outcome and ETags, waiting to be recorded as one. */
interface GatheredCheck {
  /** The latest of them. */
  attempt: SyncAttempt;
  failedEtag: string | null;
  checked: CheckedMark | undefined;
  repeats: RepeatedChecks;
  written: { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void };
}

function settlement(): GatheredCheck['written'] {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

type Decision = {
  outcome: SyncOutcome;
  etagBefore: string | null;
  etagAfter: string | null;
  mailEtag: string | null;
  /** When the sites were found in step: the "checked" time, written with the attempt in one commit. */
  checkedAt?: number;
  /** After a switch of pictures: the old files' removal, which goes on after the answer. */
  oldFilesRemoved?: Promise<void>;
  /** After a switch of pictures: the renditions switched to. */
  renditions?: Record<RenditionSize, Rendition>;
  /** The attempt was recorded in the switch's commit, with this duration (see `recordWithSwitch`). */
  recordedMs?: number;
};

/** A row of the read under the lock: the inputs, and on PostgreSQL what the work needs (`syncReadQuery`). */
type LockedRow = InputsRow & Partial<Pick<SyncReadRow, 'kept' | 'needs_lock'>>;

/** What the sites need: nothing more (a decision), the placeholder, or new renditions. */
type Assessment =
  | { decided: Decision }
  | { work: 'placeholder'; etagBefore: string | null; hadPicture: boolean; hasProfile: boolean }
  | { work: 'render'; etagBefore: string | null; mail: MailPhoto; hasProfile: boolean };

/**
 * What a sync makes the sites' renditions from: those made when the mail photo was set, at the
 * sizes now, or else the mail photo's bytes (undefined when they could not be read).
 */
interface SyncSource {
  renditions?: SitesRenditions;
  /** The sizes the renditions were read for ("48,72,300"). */
  spec?: string;
  master?: Buffer | undefined;
}

/** An attempt under way: what starts its record, and the mail photo it is working on (a failure is charged to it). */
interface Attempt {
  trigger: SyncTrigger;
  startedAt: number;
  /** performance.now() at the start. */
  started: number;
  mailEtag: string | null;
  /** See SyncOptions. */
  alsoRecord: AlsoRecord | undefined;
}

/** What a sync does, decided from its inputs alone: nothing (with its outcome), or the work. */
export type SyncPlan =
  | {
      skip: SyncOutcome;
      /** The sites were compared and found in step: the "checked" time is recorded. */
      inStep: boolean;
    }
  | { work: 'placeholder' | 'render' };

export interface SyncPlanContext {
  hasMailbox: boolean;
  trigger: SyncTrigger;
  now: number;
  settings: SyncSettings;
}

/**
 * The engine's decision. Whether the sites are in step is `classify`'s alone (sync/state.ts); the
 * trigger only decides whether an out-of-step user is worked on now.
 */
export function planSync(inputs: SyncInputs, context: SyncPlanContext): SyncPlan {
  const { profile, mail, state } = inputs;
  const { trigger, now, settings } = context;
  const current = classify(syncStateInputs(context.hasMailbox, inputs, renditionSpec(settings.renditionSizes)));
  if (current === 'no_mailbox') return { skip: 'no_mailbox', inStep: false };
  if (
    trigger === 'photo_request' &&
    settings.recheckSeconds > 0 &&
    profile?.lastCheckedAt &&
    now - profile.lastCheckedAt < settings.recheckSeconds * 1000
  ) {
    return { skip: 'recently_checked', inStep: false };
  }
  if (!isOutOfStep(current)) return { skip: current === 'in_step' ? 'unchanged' : 'no_photo', inStep: true };
  // Back-off spares the photo views; a click on a tile or an operator's sync always tries.
  const mailEtag = mail?.etag ?? null;
  const failedRecently = state?.retryAfter && state.retryAfter > now && state.failedEtag === mailEtag;
  if (trigger === 'photo_request' && failedRecently) return { skip: 'backing_off', inStep: false };
  return { work: mail ? 'render' : 'placeholder' };
}

export function createSyncEngine(deps: SyncEngineDeps): SyncEngine {
  /**
   * What the syncs running render from, by the mail photo's key and the sizes: the sites'
   * renditions made when the photo was set, or else its bytes. Syncs of one user at once share one
   * read and one copy, kept while any of them runs.
   */
  const sources = new Map<string, { made: Promise<SyncSource>; users: number }>();
  function shareSource(
    userId: string,
    mail: MailPhoto,
  ): { key: string; spec: string; made: Promise<SyncSource>; done: () => void } {
    const sizes = deps.settings().renditionSizes;
    const spec = renditionSpec(sizes);
    const key = `${mail.blobKey} ${spec}`;
    let entry = sources.get(key);
    if (!entry) {
      entry = { made: readSource(userId, mail, sizes), users: 0 };
      sources.set(key, entry);
    }
    entry.users += 1;
    const shared = entry;
    return {
      key: mail.blobKey,
      spec,
      made: shared.made,
      done: () => {
        shared.users -= 1;
        if (shared.users === 0 && sources.get(key) === shared) sources.delete(key);
      },
    };
  }

  /** Never rejects: a master that could not be read is `{}`, and `apply` reads again and says why. */
  async function readSource(userId: string, mail: MailPhoto, sizes: RenditionSizes): Promise<SyncSource> {
    const renditions = await getSitesRenditions(deps, userId, mail.etag, sizes).catch(() => undefined);
    // Read from the photo store, which counts the bytes read.
    if (renditions) return { renditions, spec: renditionSpec(sizes) };
    return { master: await deps.blobs.get(mail.blobKey).catch(() => undefined) };
  }

  /** Decides from the inputs (three small rows); writes nothing but the "checked" time. */
  async function assess(
    user: DirectoryUser,
    trigger: SyncTrigger,
    now: number,
    attempt: Attempt,
    inputs: SyncInputs,
  ): Promise<Assessment> {
    // Removed while this sync waited (`users remove` holds the user's lock): nothing to sync, and
    // no history to record it in.
    if (inputs.gone) throw notFound(`There is no user ${user.upn}.`, 'user_not_found');
    const { profile, mail } = inputs;
    const etagBefore = profile?.syncedEtag ?? null;
    const mailEtag = user.hasMailbox ? (mail?.etag ?? null) : null;
    attempt.mailEtag = mailEtag;
    // A check gathered but not written yet counts as the "checked" time it will write.
    const gatheredAt = profile ? gatheredCheckedAt(user.id) : undefined;
    const seen =
      profile && gatheredAt !== undefined && gatheredAt > (profile.lastCheckedAt ?? 0)
        ? { ...inputs, profile: { ...profile, lastCheckedAt: gatheredAt } }
        : inputs;
    const plan = planSync(seen, { hasMailbox: user.hasMailbox, trigger, now, settings: deps.settings() });
    if ('work' in plan) {
      return plan.work === 'render' && mail
        ? { work: 'render', etagBefore, mail, hasProfile: !!profile }
        : { work: 'placeholder', etagBefore, hadPicture: profile?.placeholderState === 0, hasProfile: !!profile };
    }
    const decided: Decision = { outcome: plan.skip, etagBefore, etagAfter: etagBefore, mailEtag };
    // Without a profile there is nothing to mark: make one, so the sites' properties are the user's own.
    if (!profile && (plan.inStep || plan.skip === 'no_mailbox')) {
      await markProfileChecked(deps.db, user, now);
      return { decided };
    }
    return { decided: plan.inStep ? { ...decided, checkedAt: now } : decided };
  }

  /**
   * The record of an attempt that switches the sites' pictures, for the switch's commit. The
   * user's checks gathered before it are history before it: written first (a failed write is
   * reported to those checks' own callers).
   */
  async function switchRecord(user: DirectoryUser, attempt: Attempt, decided: Decision) {
    await writeGathered(user.id).catch(() => {});
    const also = attempt.alsoRecord;
    return recordWithSwitch(
      { userId: user.id, trigger: attempt.trigger, startedAt: attempt.startedAt, error: null, ...decided },
      decided.mailEtag,
      deps.settings().errorBackoffSeconds * 1000,
      () => performance.now() - attempt.started,
      also && ((trx) => also(trx, { outcome: decided.outcome, error: null })),
    );
  }

  /**
   * Does the work; 'reassess' when the mail photo was replaced under it (its old bytes are gone).
   * `source`: what was read already for this photo at the sizes now.
   */
  async function apply(
    user: DirectoryUser,
    attempt: Attempt,
    needed: Exclude<Assessment, { decided: Decision }>,
    now: number,
    source: SyncSource | undefined,
  ): Promise<Decision | 'reassess'> {
    if (needed.work === 'placeholder') {
      const outcome = needed.hadPicture ? 'removed' : 'no_photo';
      const decided = { outcome, etagBefore: needed.etagBefore, etagAfter: null, mailEtag: null } satisfies Decision;
      // A picture taken down is a switch too; a placeholder that was shown already is a check,
      // recorded as one (counted on the row it repeats).
      const record = needed.hadPicture ? await switchRecord(user, attempt, decided) : undefined;
      await showPlaceholder(deps, user, now, record);
      return { ...decided, ...(record?.durationMs === undefined ? {} : { recordedMs: record.durationMs }) };
    }
    const { mail } = needed;
    const sizes = deps.settings().renditionSizes;
    const made = source ?? (await readSource(user.id, mail, sizes));
    // Renditions read for other sizes (the setting changed while they were read) are not these.
    let jpegs = made.spec === renditionSpec(sizes) ? made.renditions : undefined;
    if (!jpegs) {
      const master = made.master ?? (await deps.blobs.get(mail.blobKey));
      if (!master) {
        if ((await getMailPhoto(deps.db, user.id))?.etag !== mail.etag) return 'reassess';
        throw new Error(`The mail photo file ${mail.blobKey} is missing from the photo store.`);
      }
      const [S, M, L] = await renderSquareJpegs(master, [sizes.S, sizes.M, sizes.L]);
      if (!S || !M || !L) throw new Error('The renderer returned fewer renditions than asked for.');
      jpegs = { S, M, L };
    }
    deps.metrics.renders.inc({ source: 'mail', made: jpegs === made.renditions ? 'when_set' : 'at_sync' });
    deps.faultPoint?.('after-render');
    const decided = {
      outcome: 'synced',
      etagBefore: needed.etagBefore,
      etagAfter: mail.etag,
      mailEtag: mail.etag,
    } satisfies Decision;
    const record = await switchRecord(user, attempt, decided);
    const published = await publishRenditions(
      deps,
      user,
      {
        jpegs,
        source: 'mail',
        syncedEtag: mail.etag,
        renditionSpec: renditionSpec(sizes),
        at: now,
        hasProfile: needed.hasProfile,
      },
      record,
    );
    return {
      ...decided,
      oldFilesRemoved: published.oldFilesRemoved,
      renditions: published.renditions,
      ...(record.durationMs === undefined ? {} : { recordedMs: record.durationMs }),
    } satisfies Decision;
  }

  const inputsKey = (userId: string) => `sync inputs ${userId}`;

  /** The inputs as the first assessment reads them: from the read cache while nothing they hold has changed. */
  function readInputs(userId: string): Promise<SyncInputs> {
    const load = () => getSyncInputs(deps.db, userId);
    return deps.reads ? deps.reads.read(inputsKey(userId), load, FROM_DIRECTORY | FROM_SYNC_INPUTS) : load();
  }

  /**
   * On PostgreSQL with the photo store in the database, the read under the lock brings the
   * renditions kept with the mail photo (`syncReadQuery`): no read of them beside it.
   */
  const readsKept = deps.blobs.kind === 'postgres';

  /** The read under the user's lock, and the sizes it reads kept renditions at (none on SQLite). */
  function lockedRead(userId: string, view?: PictureView): { query: CompiledQuery<LockedRow>; spec?: string } {
    if (!readsKept) return { query: syncInputsQuery(deps.db, userId) };
    const spec = renditionSpec(deps.settings().renditionSizes);
    return { query: syncReadQuery(deps.db, userId, spec, view), spec };
  }

  /**
   * An action whose inputs are not in memory, on PostgreSQL: the inputs, and the user's lock when
   * the sites look out of step, in one round trip (`UserLock.readOrLock`); the work follows at once
   * under it. Undefined where this is not done; `{ inputs }` when no lock was taken, for the
   * assessment as usual, and kept in the read cache as `readInputs` keeps them (an in-step check
   * after it reads nothing, whatever the trigger).
   */
  function readWithLock(
    user: DirectoryUser,
    trigger: SyncTrigger,
    attempt: Attempt,
    settingsRead: Promise<unknown> | undefined,
  ): Promise<{ decided: Decision } | { inputs: SyncInputs }> | undefined {
    const readOrLock = deps.lock.readOrLock;
    if (!readOrLock || !readsKept) return undefined;
    const reads = deps.reads;
    if (reads && reads.cached(inputsKey(user.id)) !== NOT_CACHED) return undefined;
    // A picture view the assessment would skip (backing off, checked a moment ago) takes no lock.
    const view =
      trigger === 'photo_request' ? { now: Date.now(), recheckMs: deps.settings().recheckSeconds * 1000 } : undefined;
    const { query, spec } = lockedRead(user.id, view);
    let decided: Decision | undefined;
    // The inputs as read, under the lock or not: kept only when nothing was committed meanwhile
    // (a switch made under the lock is a commit), as every read of the cache is.
    const load = async (): Promise<SyncInputs> => {
      const got = await readOrLock(user.id, query, async ([row]) => {
        if (settingsRead) await settingsRead;
        decided = await workUnderLock(user, trigger, attempt, row, spec, undefined);
        return row;
      });
      return inputsOf(got.held ? got.value : got.rows[0]);
    };
    return (async () => {
      const inputs = await (reads ? reads.read(inputsKey(user.id), load, FROM_DIRECTORY | FROM_SYNC_INPUTS) : load());
      if (decided) return { decided };
      if (settingsRead) await settingsRead;
      return { inputs };
    })();
  }

  /**
   * The common case (in step) is decided without the lock. Work is done under the user's lock,
   * after assessing again from inputs read once it is held: a sync that ran while this one waited
   * leaves nothing to do. On PostgreSQL the lock and that read are one round trip (with the kept
   * renditions, and for an action that is no picture view with the first read too). On SQLite the
   * mail photo's bytes are read while the lock is taken: a key never names two different writes,
   * so they are the ones to render whenever the inputs read under the lock name the same key.
   */
  async function decide(user: DirectoryUser, trigger: SyncTrigger, attempt: Attempt): Promise<Decision> {
    const settingsRead = deps.settingsCurrent?.();
    const oneTrip = readWithLock(user, trigger, attempt, settingsRead);
    let read: Promise<SyncInputs>;
    if (oneTrip) {
      const got = await oneTrip;
      if ('decided' in got) return got.decided;
      read = Promise.resolve(got.inputs);
    } else {
      read = readInputs(user.id);
    }
    if (settingsRead) await settingsRead;
    const first = await assess(user, trigger, Date.now(), attempt, await read);
    if ('decided' in first) return first.decided;
    const early = first.work === 'render' && !readsKept ? shareSource(user.id, first.mail) : undefined;
    try {
      const { query, spec } = lockedRead(user.id);
      return await deps.lock.runReading(user.id, query, ([row]) =>
        workUnderLock(user, trigger, attempt, row, spec, early),
      );
    } finally {
      early?.done();
    }
  }

  /**
   * The work under the user's lock, decided again from `row` (read once the lock was held).
   * `keptSpec`: the sizes `row.kept` was read at; `early`: what was read meanwhile (SQLite).
   */
  async function workUnderLock(
    user: DirectoryUser,
    trigger: SyncTrigger,
    attempt: Attempt,
    row: LockedRow | undefined,
    keptSpec: string | undefined,
    early: { key: string; spec: string; made: Promise<SyncSource> } | undefined,
  ): Promise<Decision> {
    let inputs = inputsOf(row);
    for (let round = 0; ; round++) {
      const now = Date.now();
      const current = await assess(user, trigger, now, attempt, inputs);
      if ('decided' in current) return current.decided;
      let source: SyncSource | undefined;
      if (round === 0 && current.work === 'render') {
        const spec = renditionSpec(deps.settings().renditionSizes);
        if (row?.kept && keptSpec === spec) source = await keptSource(user.id, row.kept, spec);
        else if (current.mail.blobKey === early?.key && early.spec === spec) source = await early.made;
      }
      const done = await apply(user, attempt, current, now, source);
      if (done !== 'reassess') return done;
      if (round === 3) throw new Error('The mail photo kept changing while it was being synced.');
      inputs = await getSyncInputs(deps.db, user.id);
    }
  }

  /** The kept renditions read under the lock, as a source; none kept (or damaged): the master, read by `apply`. */
  async function keptSource(userId: string, kept: NonNullable<SyncReadRow['kept']>, spec: string): Promise<SyncSource> {
    const rows = kept.map((r) => ({ ...r, bytes: r.bytes === null ? undefined : Buffer.from(r.bytes, 'base64') }));
    const renditions = await keptRenditions(deps, userId, rows);
    return renditions ? { renditions, spec } : {};
  }

  /** Records written after their answer, until they settle. */
  const writing = new Set<Promise<unknown>>();
  const track = (record: Promise<unknown>) => {
    writing.add(record);
    void record.catch(() => {}).finally(() => writing.delete(record));
  };

  /**
   * In-step checks answered before their record, gathered for a moment: a page that shows one's
   * own picture in several places, or a burst of views, writes one record that counts them all
   * (the same row a repeated check is counted on) instead of one per view. A user's gathered
   * checks are written before any other attempt of theirs is recorded, so the history keeps its
   * order; `settle()` writes them at once.
   */
  const gathered = new Map<string, GatheredCheck[]>();
  let gatherTimer: NodeJS.Timeout | undefined;

  function gather(attempt: SyncAttempt, failedEtag: string | null, checked: CheckedMark | undefined): Promise<void> {
    const checks = gathered.get(attempt.userId) ?? [];
    const same = checks.find(
      (g) =>
        g.attempt.trigger === attempt.trigger &&
        g.attempt.outcome === attempt.outcome &&
        g.attempt.etagBefore === attempt.etagBefore &&
        g.attempt.etagAfter === attempt.etagAfter,
    );
    if (same) {
      same.repeats.checks++;
      if (attempt.startedAt >= same.attempt.startedAt) same.attempt = attempt;
      if (checked && (!same.checked || checked.at >= same.checked.at)) same.checked = checked;
      // One write, one failure: it is the first check's to report.
      return same.written.promise.catch(() => {});
    }
    const check: GatheredCheck = {
      attempt,
      failedEtag,
      checked,
      repeats: { checks: 1, firstStartedAt: attempt.startedAt },
      written: settlement(),
    };
    checks.push(check);
    gathered.set(attempt.userId, checks);
    gatherTimer ??= setTimeout(() => void writeGathered(), GATHER_MS).unref();
    return check.written.promise;
  }

  /** Writes the gathered checks of one user, or of everyone. */
  function writeGathered(userId?: string): Promise<void> {
    if (userId !== undefined) return writeGatheredOf(userId);
    clearTimeout(gatherTimer);
    gatherTimer = undefined;
    return Promise.all([...gathered.keys()].map(writeGatheredOf)).then(() => {});
  }

  /**
   * A user's records that may be counted on a row another wrote (checks that changed nothing, and
   * the gathered ones), written one after another: the next starts when the last has settled.
   * Checks of one user that finish together are then counted on one row (each sees the row the
   * one before wrote) instead of racing to insert a row each; on PostgreSQL those races were as
   * wide as the connection pool. Other instances may still race: a second row at most, never one
   * per view. (One statement cannot serialise this itself: under READ COMMITTED its snapshot is
   * taken before any lock it would take.)
   */
  const userWrites = new Map<string, Promise<void>>();
  /** A user's gathered checks being written (the last write started): what `writeChecks()` waits for. */
  const gatheredWrites = new Map<string, Promise<void>>();

  function inTurn<T>(userId: string, work: () => Promise<T>): Promise<T> {
    const before = userWrites.get(userId);
    const turn = before ? before.then(work) : work();
    const settled = turn.then(
      () => {},
      () => {},
    );
    userWrites.set(userId, settled);
    void settled.then(() => {
      if (userWrites.get(userId) === settled) userWrites.delete(userId);
    });
    return turn;
  }

  function writeGatheredOf(userId: string): Promise<void> {
    const checks = gathered.get(userId);
    if (!checks) return gatheredWrites.get(userId) ?? Promise.resolve();
    gathered.delete(userId);
    const write = inTurn(userId, async () => {
      for (const check of checks) {
        const record = recordAttempt(
          deps.db,
          check.attempt,
          check.failedEtag,
          deps.settings().errorBackoffSeconds * 1000,
          check.checked,
          check.repeats,
        ).then(
          () => {},
          async (error: unknown) => {
            // A user removed meanwhile has no history to record the checks in.
            if (!(await userExists(userId))) return;
            throw error;
          },
        );
        await record.then(check.written.resolve, check.written.reject);
      }
    });
    track(write);
    gatheredWrites.set(userId, write);
    void write
      .catch(() => {})
      .finally(() => {
        if (gatheredWrites.get(userId) === write) gatheredWrites.delete(userId);
      });
    return write;
  }

  async function userExists(userId: string): Promise<boolean> {
    const row = await deps.db.selectFrom('directory_users').select('id').where('id', '=', userId).executeTakeFirst();
    return row !== undefined;
  }

  /** The latest "checked" time among a user's gathered checks, which the database does not have yet. */
  function gatheredCheckedAt(userId: string): number | undefined {
    let latest: number | undefined;
    for (const check of gathered.get(userId) ?? []) {
      if (check.checked && (latest === undefined || check.checked.at > latest)) latest = check.checked.at;
    }
    return latest;
  }

  return {
    readInputs,
    async settle() {
      await writeGathered();
      while (writing.size > 0) await Promise.allSettled([...writing]);
    },
    async writeChecks() {
      await writeGathered();
      await Promise.allSettled([...gatheredWrites.values()]);
    },
    async sync(user, trigger, options = {}) {
      const startedAt = Date.now();
      const started = performance.now();
      let decision: Decision;
      let error: string | null = null;
      const { alsoRecord } = options;
      const attempt: Attempt = { trigger, startedAt, started, mailEtag: null, alsoRecord };
      try {
        decision = await decide(user, trigger, attempt);
      } catch (cause) {
        if (isAppError(cause) && cause.id === 'user_not_found') throw cause;
        error = cause instanceof Error ? cause.message : String(cause);
        const profile = await getSiteProfile(deps.db, user.id).catch(() => undefined);
        const etag = profile?.syncedEtag ?? null;
        // Waiting too long for another sync of this user is no fault of the photo: no back-off.
        const outcome = cause instanceof LockTimeoutError ? 'busy' : 'failed';
        decision = { outcome, etagBefore: etag, etagAfter: etag, mailEtag: attempt.mailEtag };
        if (outcome === 'failed') {
          const fault = describeStorageFault(cause, false);
          const told = { err: cause, code: storageFaultCode(cause), user: user.upn, trigger };
          // The disk is the operator's to fix (error); anything else is the photo's or the user's,
          // told at info (the attempt's record keeps it too; a command says it itself).
          if (fault) deps.log?.error(told, `sync failed: ${fault}`);
          else deps.log?.info(told, `sync failed: ${error}`);
        }
      }
      // The whole sync, as the caller and the metrics see it; a switch's record, written in its
      // commit, has the time up to that commit.
      const durationMs = performance.now() - started;
      const { checkedAt } = decision;
      const record: SyncAttempt = {
        userId: user.id,
        trigger,
        outcome: decision.outcome,
        startedAt,
        durationMs,
        etagBefore: decision.etagBefore,
        etagAfter: decision.etagAfter,
        error,
      };
      const checked: CheckedMark | undefined =
        checkedAt === undefined ? undefined : { at: checkedAt, exchangeSyncState: user.hasMailbox ? 1 : 0 };
      // The files a switch replaced are named by no row: they go after the answer (`settle()` waits
      // for them; a crash first leaves orphans for the sweeper).
      if (decision.oldFilesRemoved) track(decision.oldFilesRemoved);
      let done = Promise.resolve();
      if (options.answerBeforeRecord && !alsoRecord && RECORDED_LATER.has(decision.outcome)) {
        done = gather(record, decision.mailEtag, checked);
      } else if (decision.recordedMs === undefined) {
        // Not a switch of pictures, which was recorded in its commit.
        await writeGathered(user.id);
        const also = alsoRecord && ((trx: Db) => alsoRecord(trx, { outcome: record.outcome, error }));
        const write = () =>
          recordAttempt(
            deps.db,
            record,
            decision.mailEtag,
            deps.settings().errorBackoffSeconds * 1000,
            checked,
            undefined,
            also,
          );
        // Only a record that may be counted on another's row waits its turn; the rest have rows of their own.
        await (isKept(decision.outcome) ? write() : inTurn(user.id, write));
      }
      deps.metrics.syncs.inc({ trigger, outcome: decision.outcome });
      deps.metrics.syncSeconds.observe({ outcome: decision.outcome }, durationMs / 1000);
      return {
        outcome: decision.outcome,
        etagBefore: decision.etagBefore,
        etagAfter: decision.etagAfter,
        durationMs,
        error,
        ...(decision.renditions ? { renditions: decision.renditions } : {}),
        recorded: done,
      };
    },
  };
}
