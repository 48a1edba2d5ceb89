import fs from 'node:fs/promises';
import { sql, type Kysely } from 'kysely';
import { removeStaleTempFiles, type BlobStore, type StoredBlob } from './blob-store.js';
import { BLOB_REFERENCES } from './blob-references.js';
import type { Database } from './database.js';

// Blobs written before a commit that never happened (a crash between the write and the commit)
// are named by no row. The sweeper removes those, and only those older than a safety window: a
// blob just written may belong to a commit still under way.

export interface SweepOptions {
  /** Only blobs written longer ago than this are considered. */
  minAgeMs: number;
  /** false: only report what would go. */
  apply: boolean;
  now?: number;
  /** Stops the sweep after the batch under way (a server shutting down does not wait for it). */
  signal?: AbortSignal;
}

export interface SweepReport {
  /** Blobs looked at: every one stored, unless the sweep was stopped. */
  examined: number;
  orphans: StoredBlob[];
  /** Removed (0 in a dry run). */
  removed: number;
  removedBytes: number;
  /** Temporary files of photo writes that never finished (files only, with `apply`). */
  tempFilesRemoved: number;
}

/** How old a temporary file of a writer on another machine must be before it is removed. */
const STALE_TEMP_MS = 60 * 60 * 1000;

/** Of `keys`, those some table still names. */
async function referencedKeys(db: Kysely<Database>, keys: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (const { table, column } of BLOB_REFERENCES) {
    const rows = await sql<{
      key: string;
    }>`select ${sql.ref(column)} as key from ${sql.table(table)} where ${sql.ref(column)} in (${sql.join(keys)})`.execute(
      db,
    );
    for (const row of rows.rows) found.add(row.key);
  }
  return found;
}

/**
 * On PostgreSQL, in one statement that checks again that no row names the blob and that it was
 * not written again meanwhile; returns the keys removed.
 */
async function removeFromDatabase(db: Kysely<Database>, keys: string[], writtenBefore: number): Promise<string[]> {
  const unnamed = BLOB_REFERENCES.map(
    ({ table, column }) =>
      sql`not exists (select 1 from ${sql.table(table)} where ${sql.ref(`${table}.${column}`)} = storage_blobs.key)`,
  );
  const rows = await sql<{ key: string }>`delete from storage_blobs
    where key in (${sql.join(keys)}) and created_at < ${writtenBefore} and ${sql.join(unnamed, sql` and `)}
    returning key`.execute(db);
  return rows.rows.map((r) => r.key);
}

/** Files: checked again just before each goes, so one written again meanwhile stays. */
async function removeFiles(blobs: BlobStore, root: string, orphans: StoredBlob[], writtenBefore: number) {
  const gone: string[] = [];
  for (const orphan of orphans) {
    const stat = await fs.stat(`${root}/${orphan.key}`).catch(() => undefined);
    if (!stat || stat.mtimeMs >= writtenBefore) continue;
    await blobs.delete([orphan.key]);
    gone.push(orphan.key);
  }
  return gone;
}

export async function sweepOrphanedBlobs(
  deps: { db: Kysely<Database>; blobs: BlobStore; photosDir: string },
  options: SweepOptions,
): Promise<SweepReport> {
  const writtenBefore = (options.now ?? Date.now()) - options.minAgeMs;
  const report: SweepReport = { examined: 0, orphans: [], removed: 0, removedBytes: 0, tempFilesRemoved: 0 };
  if (options.apply && deps.blobs.kind === 'files') {
    report.tempFilesRemoved = await removeStaleTempFiles(
      deps.photosDir,
      STALE_TEMP_MS,
      options.now ?? Date.now(),
      options.signal,
    );
  }
  // Only the keys no table names are then asked for their age: a store of 100,000 users has up
  // to 700,000 files, and each stat is a system call.
  for await (const keys of deps.blobs.listKeys()) {
    if (options.signal?.aborted) break;
    report.examined += keys.length;
    const named = await referencedKeys(deps.db, keys);
    const unnamed = keys.filter((key) => !named.has(key));
    if (unnamed.length === 0) continue;
    const orphans = await deps.blobs.writtenBefore(unnamed, writtenBefore);
    report.orphans.push(...orphans);
    if (!options.apply || orphans.length === 0) continue;
    const gone = new Set(
      deps.blobs.kind === 'postgres'
        ? await removeFromDatabase(
            deps.db,
            orphans.map((o) => o.key),
            writtenBefore,
          )
        : await removeFiles(deps.blobs, deps.photosDir, orphans, writtenBefore),
    );
    for (const orphan of orphans) {
      if (!gone.has(orphan.key)) continue;
      report.removed++;
      report.removedBytes += orphan.byteSize;
    }
  }
  return report;
}
