import { randomUUID } from 'node:crypto';
import { linkSync, mkdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { sql, type Insertable } from 'kysely';
import { libraryFileStem } from '../directory/upn.js';
import { MAIL_MASTER_MAX_SIDE } from '../mail/photo-store.js';
import { rasterizeSvg, renderSquareJpegs } from '../media/media.js';
import type { Services } from '../services.js';
import { renditionSpec } from '../sites/library.js';
import type { Database } from '../storage/database.js';
import { SYNC_STATES, type SyncStateName } from '../sync/state.js';
import { contentTag } from '../storage/hash.js';
import { faceSvg, type FaceStyle } from './faces.js';

// A large organisation for benchmarks and for testing pages at scale: many users in every sync
// state, built in minutes rather than hours. Rows are written in bulk with the same shapes the
// roles write; a few hundred distinct portraits are rendered once and every user gets their own
// blob keys for them (hard links on the file store, server-side copies in PostgreSQL), so
// replacing or deleting one user's photo never touches another's. Their keys sit in 256 shared
// folders instead of one folder per user, which makes building 100,000 users several times faster.

/** Out of every 100 users: most have a mail photo and are in step, every other state is present. */
const STATE_PERCENT: Record<SyncStateName, number> = {
  in_step: 60,
  changed: 10,
  never_synced: 12,
  no_photo: 8,
  no_mailbox: 5,
  failing: 5,
};

export function stateOfUser(index: number): SyncStateName {
  let slot = index % 100;
  for (const state of SYNC_STATES) {
    if (slot < STATE_PERCENT[state]) return state;
    slot -= STATE_PERCENT[state];
  }
  return 'in_step';
}

export const largeOrgUpn = (index: number) => `user${String(index).padStart(6, '0')}@contoso.com`;

export interface LargeOrgOptions {
  users: number;
  /** Distinct portraits shared out among the users. */
  distinctPhotos?: number;
  /**
   * Side of the portraits' mail photos (default: the mail store's largest, 648). A smaller side keeps
   * the photo store small when only the rows are the question (the bench's scale part).
   */
  masterSide?: number;
  progress?: (message: string) => void;
}

export interface LargeOrgReport {
  users: number;
  counts: Record<SyncStateName, number>;
  blobs: number;
}

interface Portrait {
  master: { jpeg: Buffer; etag: string; side: number };
  renditions: Record<'S' | 'M' | 'L', { jpeg: Buffer; etag: string; side: number }>;
}

const PALETTE = ['#cfe3f7', '#fde7c8', '#d9f2e3', '#f3d6d8', '#e6e1f7', '#f7f3c6', '#d6eef3'];
const SKIN = ['#f1c7a5', '#e8b894', '#d9a47e', '#c68863', '#8d5a3b', '#eac39d'];
const HAIR = ['#3b2a1e', '#8b4a1c', '#1f1f1f', '#b58a3c', '#6b6b6b'];
const SHIRT = ['#0f6cbd', '#c239b3', '#107c10', '#a4262c', '#5c2e91', '#ca5010'];

async function renderPortraits(count: number, masterSide: number, services: Services): Promise<Portrait[]> {
  const sizes = services.syncSettings().renditionSizes;
  const one = async (i: number): Promise<Portrait> => {
    const style: FaceStyle = {
      background: PALETTE[i % PALETTE.length]!,
      skin: SKIN[Math.floor(i / PALETTE.length) % SKIN.length]!,
      hair: HAIR[i % HAIR.length]!,
      shirt: SHIRT[Math.floor(i / 3) % SHIRT.length]!,
      hairStyle: (i % 3) as 0 | 1 | 2,
    };
    // The index in the background's last digit keeps every portrait distinct past the palettes.
    const svg = faceSvg(style).replace(
      '<rect width="100" height="100"',
      `<rect data-n="${i}" width="100" height="100"`,
    );
    const jpeg = await rasterizeSvg(`${svg}<!-- ${i} -->`, masterSide);
    const [S, M, L] = await renderSquareJpegs(jpeg, [sizes.S, sizes.M, sizes.L]);
    const rendition = (r: { jpeg: Buffer; side: number } | undefined) => ({
      jpeg: r!.jpeg,
      side: r!.side,
      etag: contentTag(r!.jpeg),
    });
    return {
      master: { jpeg, etag: contentTag(jpeg), side: masterSide },
      renditions: { S: rendition(S), M: rendition(M), L: rendition(L) },
    };
  };
  const portraits: Portrait[] = [];
  // A few at a time keeps both cores busy without holding many decoded images at once.
  for (let i = 0; i < count; i += 4) {
    portraits.push(...(await Promise.all([i, i + 1, i + 2, i + 3].filter((n) => n < count).map(one))));
  }
  return portraits;
}

interface BlobLink {
  key: string;
  bytes: Buffer;
}

/**
 * Adds `options.users` users (user000000@contoso.com …) to an empty directory. Refuses a directory
 * that already has users, so it never mixes with real people.
 */
export async function buildLargeOrganisation(services: Services, options: LargeOrgOptions): Promise<LargeOrgReport> {
  const { db } = services.database;
  const log = options.progress ?? (() => {});
  const existing = await db.selectFrom('directory_users').select('id').limit(1).execute();
  if (existing.length > 0)
    throw new Error('The directory already has users; build a large organisation on an empty store.');

  const masterSide = Math.min(
    Math.max(Math.round(options.masterSide ?? MAIL_MASTER_MAX_SIDE), 48),
    MAIL_MASTER_MAX_SIDE,
  );
  const portraits = await renderPortraits(options.distinctPhotos ?? 200, masterSide, services);
  log(`rendered ${portraits.length} distinct portraits`);
  const spec = renditionSpec(services.syncSettings().renditionSizes);
  const now = Date.now();
  const counts = Object.fromEntries(SYNC_STATES.map((s) => [s, 0])) as Record<SyncStateName, number>;
  const links: BlobLink[] = [];
  const BATCH = 1000;

  for (let start = 0; start < options.users; start += BATCH) {
    const users: Array<Insertable<Database['directory_users']>> = [];
    const mail: Array<Insertable<Database['mail_photos']>> = [];
    const profiles: Array<Insertable<Database['site_profiles']>> = [];
    const renditions: Array<Insertable<Database['site_renditions']>> = [];
    const states: Array<Insertable<Database['sync_state']>> = [];
    for (let index = start; index < Math.min(options.users, start + BATCH); index++) {
      const state = stateOfUser(index);
      counts[state]++;
      const id = randomUUID();
      const upn = largeOrgUpn(index);
      users.push({
        id,
        upn,
        display_name: `User ${String(index).padStart(6, '0')}`,
        enabled: 1,
        is_admin: 0,
        has_mailbox: state === 'no_mailbox' ? 0 : 1,
        password_hash: null,
        created_at: now - 90 * 86_400_000,
      });
      const photo = portraits[index % portraits.length]!;
      const older = portraits[(index + 1) % portraits.length]!;
      if (state === 'in_step' || state === 'changed' || state === 'never_synced' || state === 'failing') {
        const key = `mail/bulk-${id.slice(0, 2)}/${id}-${photo.master.etag}.jpg`;
        links.push({ key, bytes: photo.master.jpeg });
        mail.push({
          user_id: id,
          etag: photo.master.etag,
          blob_key: key,
          side: photo.master.side,
          byte_size: photo.master.jpeg.length,
          changed_at: now - (index % 1000) * 60_000,
        });
      }
      if (state === 'in_step' || state === 'changed') {
        const synced = state === 'in_step' ? photo : older;
        profiles.push({
          user_id: id,
          file_stem: libraryFileStem(upn),
          placeholder_state: 0,
          exchange_sync_state: 1,
          picture_timestamp: now - 30 * 86_400_000,
          picture_source: 'mail',
          synced_etag: synced.master.etag,
          rendition_spec: spec,
          last_checked_at: now - 86_400_000,
        });
        for (const size of ['S', 'M', 'L'] as const) {
          const r = synced.renditions[size];
          const key = `sites/bulk-${id.slice(0, 2)}/${id}-${size}.jpg`;
          links.push({ key, bytes: r.jpeg });
          renditions.push({ user_id: id, size, blob_key: key, etag: r.etag, side: r.side, byte_size: r.jpeg.length });
        }
      }
      if (state === 'failing') {
        states.push({
          user_id: id,
          last_attempt_at: now - 3_600_000,
          last_outcome: 'failed',
          failing_since: now - 86_400_000,
          failed_etag: photo.master.etag,
          retry_after: now - 3_300_000,
          last_error: 'The mail photo file could not be read from the photo store.',
        });
      }
    }
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('directory_users').values(users).execute();
      if (mail.length > 0) await trx.insertInto('mail_photos').values(mail).execute();
      if (profiles.length > 0) await trx.insertInto('site_profiles').values(profiles).execute();
      if (renditions.length > 0) await trx.insertInto('site_renditions').values(renditions).execute();
      if (states.length > 0) await trx.insertInto('sync_state').values(states).execute();
    });
    if ((start / BATCH) % 20 === 0) log(`rows for ${Math.min(options.users, start + BATCH)} users`);
  }

  log('rows written');
  await writeBlobs(services, links);
  log(`${links.length} photo blobs written`);
  return { users: options.users, counts, blobs: links.length };
}

async function writeBlobs(services: Services, links: BlobLink[]): Promise<void> {
  if (services.blobs.kind === 'postgres') return copyBlobsInPostgres(services, links);
  // One file per distinct portrait, hard-linked under every user's key: real files, no copies.
  const root = path.join(services.config.dataDir, 'photos');
  const pool = path.join(services.config.dataDir, 'large-org-pool');
  await fs.mkdir(pool, { recursive: true });
  const pooled = new Map<Buffer, string>();
  for (const { bytes } of links) {
    if (pooled.has(bytes)) continue;
    const file = path.join(pool, `${contentTag(bytes)}.jpg`);
    await fs.writeFile(file, bytes);
    pooled.set(bytes, file);
  }
  // Synchronous calls: for this many tiny metadata operations the thread-pool hand-off costs more
  // than the calls themselves, and nothing else runs while an organisation is being built.
  for (const dir of new Set(links.map((l) => path.dirname(path.join(root, l.key)))))
    mkdirSync(dir, { recursive: true });
  for (const l of links) linkSync(pooled.get(l.bytes)!, path.join(root, l.key));
  await fs.rm(pool, { recursive: true, force: true });
}

/** Sends each distinct portrait once; PostgreSQL copies it to every key itself. */
async function copyBlobsInPostgres(services: Services, links: BlobLink[]): Promise<void> {
  const { db } = services.database;
  const keysByBytes = new Map<Buffer, string[]>();
  for (const { key, bytes } of links) {
    const keys = keysByBytes.get(bytes) ?? [];
    keys.push(key);
    keysByBytes.set(bytes, keys);
  }
  const now = Date.now();
  for (const [bytes, keys] of keysByBytes) {
    for (let i = 0; i < keys.length; i += 5000) {
      const chunk = keys.slice(i, i + 5000);
      await sql`insert into storage_blobs (key, bytes, created_at)
        select k, ${bytes}, ${now} from unnest(${chunk}::text[]) as k`.execute(db);
    }
  }
}
