import type { BlobStore } from './blob-store.js';
import type { DatabaseHandle } from './database.js';
import { describeStorageFault } from './faults.js';

// Whether this instance can serve pictures: the database's tables can be read from what is stored
// now (not from a page cache), and the photo store gives back the bytes of a stored picture.
// /healthz says the process is alive; this says whether it is any use.

export interface Readiness {
  ready: boolean;
  /** 'ok', or what is wrong in a few words (the details go to the log, not to whoever asks). */
  database: string;
  photos: string;
}

export interface ReadinessDeps {
  database: DatabaseHandle;
  blobs: BlobStore;
  /** Told the details of a failed check. */
  onProblem(part: 'database' | 'photos', error: unknown): void;
}

/** A probe may run this often at most; callers in between share the last answer (it is unauthenticated). */
const AT_MOST_EVERY_MS = 1000;

/** How long each part may take: a database that does not answer at all is not ready, and says so in time. */
export const PROBE_SECONDS = 5;

class TooSlowError extends Error {}

/** `work`, or a TooSlowError after PROBE_SECONDS (the work itself goes on until the driver's own deadline). */
export async function withinProbeTime<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new TooSlowError(`no answer within ${PROBE_SECONDS} s`)), PROBE_SECONDS * 1000);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

export function createReadinessCheck(deps: ReadinessDeps): () => Promise<Readiness> {
  let last: { at: number; answer: Promise<Readiness> } | undefined;
  return () => {
    const now = Date.now();
    if (!last || now - last.at >= AT_MOST_EVERY_MS) last = { at: now, answer: check(deps) };
    return last.answer;
  };
}

async function check(deps: ReadinessDeps): Promise<Readiness> {
  try {
    await withinProbeTime(deps.database.probe());
  } catch (error) {
    deps.onProblem('database', error);
    return { ready: false, database: inWords(error), photos: 'not checked' };
  }
  try {
    await withinProbeTime(readStoredPictures(deps));
  } catch (error) {
    deps.onProblem('photos', error);
    return { ready: false, database: 'ok', photos: inWords(error) };
  }
  return { ready: true, database: 'ok', photos: 'ok' };
}

/** Reads one rendition and one mail photo back from the photo store, when there are any. */
async function readStoredPictures({ database, blobs }: ReadinessDeps): Promise<void> {
  const { db } = database;
  const rendition = await db.selectFrom('site_renditions').select('blob_key').limit(1).executeTakeFirst();
  const mail = await db
    .selectFrom('mail_photos')
    .select('blob_key')
    .where('blob_key', 'is not', null)
    .limit(1)
    .executeTakeFirst();
  for (const key of [rendition?.blob_key, mail?.blob_key]) {
    if (!key) continue;
    if (!(await blobs.get(key))) throw new MissingPhotoError(key);
  }
}

class MissingPhotoError extends Error {
  constructor(key: string) {
    super(`The stored picture ${key} is missing from the photo store.`);
    this.name = 'MissingPhotoError';
  }
}

function inWords(error: unknown): string {
  if (error instanceof MissingPhotoError) return 'a stored picture is missing';
  if (error instanceof TooSlowError) return error.message;
  return describeStorageFault(error, false) ?? 'cannot be read (the log says why)';
}
