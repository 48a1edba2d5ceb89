// @ts-check
// Builds dist/ from src/ (tsc with tsconfig.build.json, then the files that are not TypeScript),
// and says whether dist/ is older than src/. Plain JavaScript, so it runs before anything is built:
// `npm run build` and `prepare` run it, and so do bin/photosync.js and the tests' global setup
// when the sources changed since the last build, so a stale dist/ never runs in a checkout.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = path.join(ROOT, 'src');
const DIST = path.join(ROOT, 'dist');
/** Written last by a successful build, with the time the build started (so an edit during it counts). */
const STAMP = path.join(DIST, '.build-stamp');
const LOCK = path.join(DIST, '.build-lock');
/** Besides src/, what the output depends on. */
const CONFIG_FILES = ['tsconfig.json', 'tsconfig.build.json', 'package.json'].map((f) => path.join(ROOT, f));
const TYPESCRIPT = /\.tsx?$/;
const NOT_BUILT = /\.test\.tsx?$|(^|\/)test-helpers\.ts$/;

/**
 * Why dist/ must be built again, or undefined when it is up to date. Looks at the modification
 * times of src/ (files and folders, so a removed file counts) and the build configuration: a few
 * milliseconds for a tree of this size.
 * @returns {string | undefined}
 */
export function staleReason() {
  let built;
  try {
    built = fs.statSync(STAMP).mtimeMs;
  } catch {
    return 'dist/ has not been built';
  }
  for (const file of CONFIG_FILES) {
    if (fs.statSync(file).mtimeMs > built) return `${path.relative(ROOT, file)} changed since dist/ was built`;
  }
  const newer = newestUnder(SRC, built);
  return newer && `${path.relative(ROOT, newer)} changed since dist/ was built`;
}

/**
 * The first path under `dir` modified after `since`, if any.
 * @param {string} dir
 * @param {number} since
 * @returns {string | undefined}
 */
function newestUnder(dir, since) {
  if (fs.statSync(dir).mtimeMs > since) return dir;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const found = newestUnder(full, since);
      if (found) return found;
    } else if (!NOT_BUILT.test(full) && fs.statSync(full).mtimeMs > since) {
      return full;
    }
  }
  return undefined;
}

/**
 * Compiles src/ into dist/: type-checked, incremental (only what changed is emitted again). Files
 * that are not TypeScript (stylesheets, the browser script) are copied beside the code that reads
 * them; output whose source is gone is removed. Throws with tsc's messages when the code does not
 * compile, and then leaves the stamp alone, so the next start tries again.
 */
export function build() {
  const startedAt = new Date();
  fs.mkdirSync(DIST, { recursive: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
  } catch (error) {
    const { stdout = '', stderr = '' } = /** @type {{ stdout?: string, stderr?: string }} */ (error);
    throw new Error(`TypeScript did not compile src/:\n${stdout}${stderr}`.trimEnd(), { cause: error });
  }
  copyOtherFiles(SRC, DIST);
  removeOrphans(DIST);
  fs.writeFileSync(STAMP, `${startedAt.toISOString()}\n`);
  fs.utimesSync(STAMP, startedAt, startedAt);
}

/**
 * @param {string} from
 * @param {string} to
 */
function copyOtherFiles(from, to) {
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.isDirectory()) {
      copyOtherFiles(source, target);
    } else if (!TYPESCRIPT.test(entry.name)) {
      fs.mkdirSync(to, { recursive: true });
      fs.copyFileSync(source, target);
    }
  }
}

/**
 * Deletes what a moved or deleted source file left in dist/, so nothing can import it by mistake.
 * @param {string} dir
 */
function removeOrphans(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      removeOrphans(full);
      if (fs.readdirSync(full).length === 0) fs.rmdirSync(full);
      continue;
    }
    if (dir === DIST && entry.name.startsWith('.')) continue;
    const source = path.join(SRC, path.relative(DIST, full));
    const sources = source.endsWith('.js.map')
      ? [source.replace(/\.js\.map$/, '.ts'), source.replace(/\.js\.map$/, '.tsx')]
      : source.endsWith('.js')
        ? [source, source.replace(/\.js$/, '.ts'), source.replace(/\.js$/, '.tsx')]
        : [source];
    if (!sources.some((s) => fs.existsSync(s) && !NOT_BUILT.test(s))) fs.rmSync(full);
  }
}

/**
 * Builds when dist/ is stale; otherwise only looks. One build at a time: a second process that
 * finds a build running waits for it and then looks again.
 * @param {{ log?: (message: string) => void }} [options]
 * @returns {boolean} whether it built
 */
export function ensureFreshBuild(options = {}) {
  let reason = staleReason();
  if (!reason) return false;
  fs.mkdirSync(DIST, { recursive: true });
  while (!takeLock()) {
    waitMs(100);
    if (!staleReason()) return false;
  }
  try {
    reason = staleReason();
    if (!reason) return false;
    const started = Date.now();
    options.log?.(`${reason}; building dist/ …`);
    build();
    options.log?.(`built dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return true;
  } finally {
    fs.rmSync(LOCK, { force: true });
  }
}

/** Takes the build lock, or clears one whose process is gone. */
function takeLock() {
  try {
    fs.writeFileSync(LOCK, String(process.pid), { flag: 'wx' });
    return true;
  } catch (error) {
    if (/** @type {NodeJS.ErrnoException} */ (error).code !== 'EEXIST') throw error;
  }
  try {
    const holder = Number(fs.readFileSync(LOCK, 'utf8'));
    if (holder > 0) process.kill(holder, 0);
  } catch (error) {
    // ESRCH: the builder died; ENOENT: it just finished.
    if (/** @type {NodeJS.ErrnoException} */ (error).code === 'ESRCH') fs.rmSync(LOCK, { force: true });
  }
  return false;
}

/** @param {number} ms */
function waitMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    build();
  } catch (error) {
    process.stderr.write(`${/** @type {Error} */ (error).message}\n`);
    process.exitCode = 1;
  }
}
