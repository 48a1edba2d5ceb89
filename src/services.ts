import path from 'node:path';
import { pino, type Logger } from 'pino';
import { createMailer, type Mailer } from './admin/mailer.js';
import { createPromptOutbox, type PromptOutbox } from './admin/outbox.js';
import { createSettingsStore, type SettingsStore } from './admin/settings.js';
import { createSignInThrottle, type SignInThrottle } from './directory/sign-in-throttle.js';
import type { Config } from './config.js';
import { createMailPhotoSizes, type MailPhotoSizes } from './mail/photo-sizes.js';
import type { MailStoreDeps } from './mail/photo-store.js';
import { configureMedia, watchMedia } from './media/media.js';
import { createM365Connection, type M365Connection } from './m365/connection.js';
import { createMetrics, recordMediaEvent, type Metrics } from './metrics.js';
import {
  checkFileStoreWrites,
  createFileBlobStore,
  createPostgresBlobStore,
  type BlobFileSystem,
  type BlobStore,
} from './storage/blob-store.js';
import { crashAt } from './fault-point.js';
import { createByteCache, type ByteCache } from './storage/byte-cache.js';
import { describeStorageFault, storageFaultCode } from './storage/faults.js';
import { caseFoldingProblem } from './storage/case-folding.js';
import { openDatabase, type DatabaseHandle } from './storage/database.js';
import { createLeaseLock, createUserLock, type UserLock } from './storage/user-lock.js';
import { createSyncEngine, type SyncEngine, type SyncSettings } from './sync/engine.js';

/** Everything the roles need, built once and passed in: the server and the CLI share it. */
export interface Services {
  config: Config;
  database: DatabaseHandle;
  blobs: BlobStore;
  /**
   * The sites' pictures' bytes by blob key, for serving (keys are never rewritten, so an entry is
   * never stale): filled by each publish with the renditions it switched to, and by each read.
   */
  pictureBytes: ByteCache;
  /** Graph-sized versions of mail photos, derived on demand and cached by ETag. */
  mailSizes: MailPhotoSizes;
  /** What setting or removing a mail photo needs, the sites' sizes included (see MailStoreDeps). */
  mailStore: MailStoreDeps;
  lock: UserLock;
  /** Connect mode's pushes, one per tenant user at a time across instances, holding no connection. */
  tenantLock: Pick<UserLock, 'run'>;
  metrics: Metrics;
  sync: SyncEngine;
  log: Logger;
  syncSettings(): SyncSettings;
  /** Admin-editable settings: database values over the environment's defaults. */
  settings: SettingsStore;
  /** Failed password sign-ins, counted in the database for every instance and every way in. */
  signInThrottle: SignInThrottle;
  /** Sends prompt e-mails; undefined when SMTP_URL is not set. */
  mailer: Mailer | undefined;
  /** The prompt e-mails' outbox (with a mailer); a serving app starts its loop. */
  promptOutbox: PromptOutbox | undefined;
  /** Connect mode's connection to the Microsoft 365 tenant; undefined when photosync is its own organisation. */
  m365: M365Connection | undefined;
  /** Test-only crash points (PHOTOSYNC_FAULT_INJECTION); undefined in production. */
  faultPoint: ((name: string) => void) | undefined;
  close(): Promise<void>;
}

export interface ServiceOptions {
  log?: Logger;
  /** PostgreSQL schema (tests isolate themselves in their own). */
  schema?: string;
  /** The photo files' file operations (tests make them fail as a full or read-only disk would). */
  blobFiles?: BlobFileSystem;
  /**
   * Whether PHOTOSYNC_RENDITION_SIZES become the sizes in use while no administrator has saved
   * any (a server's start, and the default); false for the command line's other commands.
   */
  setsSizes?: boolean;
  /** The process's own metrics on /metrics (CPU, memory, event-loop delay, open handles): the server's. */
  processMetrics?: boolean;
}

export async function createServices(config: Config, options: ServiceOptions = {}): Promise<Services> {
  const log = options.log ?? pino({ level: config.logLevel });
  configureMedia({ queue: config.imageQueue });
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    onIdleConnectionLost: (error) =>
      log.warn(
        { err: error, code: (error as { code?: string }).code },
        'PostgreSQL closed an idle connection; the next query opens a new one',
      ),
    onChangeNoticesLost: (error) =>
      log.warn(
        { err: error, code: (error as { code?: string }).code },
        'The connection that listens for other instances’ changes was lost; every read goes to the database until it is back (tried again every second)',
      ),
    onChangeNoticesBack: () =>
      log.info('The connection that listens for other instances’ changes is back; reads are kept in memory again'),
    ...(options.schema ? { schema: options.schema } : {}),
  });
  if (database.dialect === 'postgres') {
    const problem = await caseFoldingProblem(database.db).catch(() => undefined);
    if (problem) log.warn(problem);
  }
  const metrics = createMetrics({ defaultMetrics: options.processMetrics === true });
  const counter = { inc: (bytes: number) => metrics.photoBytesRead.inc(bytes) };
  const photosDir = photoDirectory(config);
  const blobs =
    database.dialect === 'postgres'
      ? createPostgresBlobStore(database.db, counter)
      : createFileBlobStore(photosDir, counter, options.blobFiles);
  if (blobs.kind === 'files') {
    await checkPhotoFolder(photosDir, log, options.blobFiles).catch(async (error: unknown) => {
      await database.close();
      throw error;
    });
  }
  const lock = createUserLock(database.db, database.dialect);
  const pictureBytes = createByteCache(PICTURE_BYTES_KEPT);
  const settings = await createSettingsStore(database.db, config, {
    setsSizes: options.setsSizes ?? true,
    ...(database.settingsNotices ? { announced: database.settingsNotices.listening } : {}),
    onSizesReplaced: (from, to) =>
      log.info(
        `The rendition sizes in use are now ${to} (this server's PHOTOSYNC_RENDITION_SIZES), not ${from}, for ` +
          'every process on this database; sizes saved in the admin console would take their place',
      ),
  }).catch(async (error: unknown) => {
    await database.close();
    throw error;
  });
  // Another instance's change of the settings counts from its notice, not from the next look.
  database.settingsNotices?.onChange(() => settings.changedElsewhere());
  const syncSettings = (): SyncSettings => settings.current();
  const mailer = createMailer(config.smtpUrl);
  const faultPoint = config.faultInjection ? crashAt(config.faultInjection) : undefined;
  const sync = createSyncEngine({
    db: database.db,
    blobs,
    pictureBytes,
    lock,
    metrics,
    settings: syncSettings,
    settingsCurrent: () => settings.whenCurrent(),
    reads: database.reads,
    log,
    ...(faultPoint ? { faultPoint } : {}),
  });
  const promptOutbox =
    mailer &&
    createPromptOutbox({
      db: database.db,
      dialect: database.dialect,
      mailer,
      from: () => settings.current().mailFrom,
      publicUrl: () => config.publicUrl,
      log,
      settings: { maxTries: config.mailMaxTries, retryMs: config.mailRetrySeconds * 1000 },
    });
  const stopWatchingMedia = watchMedia((event) => recordMediaEvent(metrics, event));
  return {
    config,
    database,
    blobs,
    pictureBytes,
    mailSizes: createMailPhotoSizes(blobs),
    mailStore: {
      db: database.db,
      dialect: database.dialect,
      blobs,
      sitesSizes: () => syncSettings().renditionSizes,
    },
    lock,
    tenantLock: createLeaseLock(database.db),
    metrics,
    sync,
    log,
    syncSettings,
    settings,
    signInThrottle: createSignInThrottle(database),
    mailer,
    promptOutbox,
    m365: config.m365 && createM365Connection(config.m365, log),
    faultPoint,
    // Closing twice (a test's or a command's cleanup after an earlier close) closes once.
    close: once(async () => {
      stopWatchingMedia();
      await sync.settle();
      await promptOutbox?.stop();
      mailer?.close();
      await database.close();
    }),
  };
}

/** Memory for pictures' bytes: a rendition is a few KB, so this keeps those of thousands of users. */
const PICTURE_BYTES_KEPT = 32 * 1024 * 1024;

/** Where the photo files are kept when the database is SQLite. */
export const photoDirectory = (config: Config) => path.join(config.dataDir, 'photos');

/**
 * Tries a write in the photo folder, so a full or read-only disk is named at start-up. It does not
 * stop it: the pictures already stored can still be served. (What failed writes left there is
 * removed by the server's sweep once it listens, or by `photosync maintenance sweep --apply`: a
 * store of many users has hundreds of thousands of files, too many to walk before each command.)
 */
async function checkPhotoFolder(root: string, log: Logger, files: BlobFileSystem | undefined): Promise<void> {
  try {
    await checkFileStoreWrites(root, files);
  } catch (error) {
    const fault = describeStorageFault(error);
    if (!fault) throw error;
    log.error(
      { err: error, code: storageFaultCode(error), folder: root },
      `Cannot save photos in ${root}: ${fault}. Pictures already stored can still be read; ` +
        'saving photos (uploads, syncs) fails until this is fixed.',
    );
  }
}

function once(task: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= task());
}
