// Mutation fuzzing of the photo upload path: corpus images are damaged at random (seeded, so a
// run can be repeated exactly) and set as a mail photo through the real photo store. Every input
// must be either refused with a 4xx AppError that changes nothing, or accepted and normalized into
// a square 8-bit sRGB JPEG without metadata. Anything else (a 5xx, a crash) is a finding.
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { DirectoryUser } from '../src/directory/users.js';
import { isAppError } from '../src/errors.js';
import { MAIL_MASTER_MAX_SIDE, getMailPhoto, setMailPhoto } from '../src/mail/photo-store.js';
import type { Services } from '../src/services.js';

export interface FuzzOptions {
  seed: number;
  iterations: number;
  corpusDir: string;
  /** Called for every input that broke the rules; the run goes on. */
  onFinding?: (finding: FuzzFinding) => Promise<void> | void;
}

export interface FuzzFinding {
  iteration: number;
  source: string;
  mutations: string[];
  input: Buffer;
  problem: string;
}

export interface FuzzSummary {
  iterations: number;
  accepted: number;
  refused: Record<number, number>;
  findings: FuzzFinding[];
}

/** mulberry32: tiny, fast and good enough to pick mutations reproducibly. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe];
const INTERESTING_WORDS = [0, 1, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0xffffffff];

type Mutation = (bytes: Buffer, random: () => number, other: Buffer) => [Buffer, string];

const at = (random: () => number, length: number) => Math.floor(random() * Math.max(1, length));

const MUTATIONS: Mutation[] = [
  (b, r) => {
    const out = Buffer.from(b);
    const i = at(r, out.length);
    const bit = 1 << at(r, 8);
    out[i] = (out[i] ?? 0) ^ bit;
    return [out, `flip bit ${bit} at ${i}`];
  },
  (b, r) => {
    const out = Buffer.from(b);
    const i = at(r, out.length);
    const value = INTERESTING_BYTES[at(r, INTERESTING_BYTES.length)] ?? 0;
    out[i] = value;
    return [out, `byte ${value} at ${i}`];
  },
  (b, r) => {
    // Sizes and lengths in headers are where decoders go wrong: overwrite a word near the start.
    const out = Buffer.from(b);
    const i = at(r, Math.min(out.length - 4, 300));
    const value = INTERESTING_WORDS[at(r, INTERESTING_WORDS.length)] ?? 0;
    if (out.length >= 4) out.writeUInt32BE(value >>> 0, Math.max(0, i));
    return [out, `word ${value} at ${i}`];
  },
  (b, r) => {
    const end = at(r, b.length);
    return [b.subarray(0, end), `truncate at ${end}`];
  },
  (b, r) => {
    const start = at(r, b.length);
    const length = at(r, Math.min(512, b.length - start));
    return [Buffer.concat([b.subarray(0, start), b.subarray(start + length)]), `delete ${length} at ${start}`];
  },
  (b, r) => {
    const start = at(r, b.length);
    const length = at(r, Math.min(512, b.length - start));
    const chunk = b.subarray(start, start + length);
    const copies = 1 + at(r, 50);
    const insert = Buffer.concat(Array.from({ length: copies }, () => chunk));
    return [Buffer.concat([b.subarray(0, start), insert, b.subarray(start)]), `repeat ${length}×${copies} at ${start}`];
  },
  (b, r) => {
    const start = at(r, b.length);
    const noise = Buffer.from(Array.from({ length: 1 + at(r, 64) }, () => at(r, 256)));
    return [Buffer.concat([b.subarray(0, start), noise, b.subarray(start)]), `insert ${noise.length} at ${start}`];
  },
  (b, r, other) => {
    const cut = at(r, b.length);
    const from = at(r, other.length);
    return [Buffer.concat([b.subarray(0, cut), other.subarray(from)]), `splice at ${cut} from ${from}`];
  },
];

async function corpusFiles(corpusDir: string): Promise<Array<{ name: string; bytes: Buffer }>> {
  const files: Array<{ name: string; bytes: Buffer }> = [];
  for (const folder of (await fs.readdir(corpusDir)).sort()) {
    const dir = path.join(corpusDir, folder);
    if (!(await fs.stat(dir)).isDirectory()) continue;
    for (const name of (await fs.readdir(dir)).sort()) {
      if (/\.(jpe?g|png|gif|webp)$/i.test(name)) {
        files.push({ name: `${folder}/${name}`, bytes: await fs.readFile(path.join(dir, name)) });
      }
    }
  }
  if (files.length === 0) throw new Error(`No images under ${corpusDir}.`);
  return files;
}

/** What is wrong with the result of one upload, or undefined when it kept the rules. */
async function judge(services: Services, user: DirectoryUser, input: Buffer): Promise<[string | undefined, number]> {
  const before = await getMailPhoto(services.database.db, user.id);
  try {
    await setMailPhoto(services.mailStore, user, input);
  } catch (error) {
    if (!isAppError(error)) return [`threw ${(error as Error)?.stack ?? String(error)}`, 500];
    if (error.status < 400 || error.status >= 500) return [`answered ${error.status}: ${error.message}`, error.status];
    const after = await getMailPhoto(services.database.db, user.id);
    if (JSON.stringify(after) !== JSON.stringify(before))
      return ['a refused upload changed the mail photo', error.status];
    return [undefined, error.status];
  }
  const photo = await getMailPhoto(services.database.db, user.id);
  const jpeg = photo && (await services.blobs.get(photo.blobKey));
  if (!jpeg) return ['accepted, but no master was stored', 200];
  const meta = await sharp(jpeg).metadata();
  const problems = [
    meta.format !== 'jpeg' && `format ${meta.format}`,
    meta.space !== 'srgb' && `space ${meta.space}`,
    meta.channels !== 3 && `${meta.channels} channels`,
    meta.width !== meta.height && `${meta.width}×${meta.height}`,
    meta.width > MAIL_MASTER_MAX_SIDE && `side ${meta.width}`,
    meta.exif && 'EXIF kept',
    meta.icc && 'ICC profile kept',
    meta.xmp && 'XMP kept',
  ].filter(Boolean);
  return [problems.length ? `accepted but not normalized: ${problems.join(', ')}` : undefined, 200];
}

export async function fuzzUploads(services: Services, user: DirectoryUser, options: FuzzOptions): Promise<FuzzSummary> {
  const random = seededRandom(options.seed);
  const corpus = await corpusFiles(options.corpusDir);
  const summary: FuzzSummary = { iterations: 0, accepted: 0, refused: {}, findings: [] };
  for (let iteration = 0; iteration < options.iterations; iteration++) {
    const source = corpus[at(random, corpus.length)]!;
    const other = corpus[at(random, corpus.length)]!;
    let input = source.bytes;
    const mutations: string[] = [];
    for (let n = 1 + at(random, 4); n > 0; n--) {
      const [mutated, label] = MUTATIONS[at(random, MUTATIONS.length)]!(input, random, other.bytes);
      input = mutated;
      mutations.push(label);
    }
    const [problem, status] = await judge(services, user, input);
    summary.iterations++;
    if (status === 200 && !problem) summary.accepted++;
    else if (!problem) summary.refused[status] = (summary.refused[status] ?? 0) + 1;
    if (problem) {
      const finding = { iteration, source: source.name, mutations, input, problem };
      summary.findings.push(finding);
      await options.onFinding?.(finding);
    }
  }
  return summary;
}
