import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import pg from 'pg';

// What every benchmark part shares: timing with warm-up and medians, the tools it compares
// against, a private PostgreSQL schema, and server processes started the way an operator would.

export const run = promisify(execFile);
export const REPO = path.resolve(import.meta.dirname, '..');
export const POSTGRES_URL = process.env.PHOTOSYNC_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

export interface Section {
  title: string;
  /** Markdown: a table and a few sentences, with targets met or missed said plainly. */
  body: string;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export const median = (values: readonly number[]) => percentile(values, 50);

export async function timeOnce(task: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await task();
  return performance.now() - started;
}

/**
 * Runs every alternative in turn, round after round (interleaved, so a burst of load from
 * elsewhere hits them all alike), after `warmup` untimed runs each. Returns ms per run. An
 * alternative with a `setup` has it run, untimed, before each of its runs (warm-ups included).
 */
export async function interleaved<K extends string>(
  alternatives: Record<K, () => Promise<unknown>>,
  rounds: Partial<Record<NoInfer<K>, number>> & { default: number },
  warmup = 2,
  setup: Partial<Record<NoInfer<K>, () => Promise<unknown>>> = {},
): Promise<Record<K, number[]>> {
  const names = Object.keys(alternatives) as K[];
  const samples = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (const name of names) {
    for (let i = 0; i < warmup; i++) {
      await setup[name]?.();
      await alternatives[name]();
    }
  }
  const most = Math.max(rounds.default, ...names.map((n) => rounds[n] ?? 0));
  for (let round = 0; round < most; round++) {
    for (const name of names) {
      if (round >= (rounds[name] ?? rounds.default)) continue;
      await setup[name]?.();
      samples[name].push(await timeOnce(alternatives[name]));
    }
  }
  return samples;
}

export function table(header: string[], rows: Array<Array<string | number>>): string {
  const cells = rows.map((row) => row.map((cell) => (typeof cell === 'number' ? formatNumber(cell) : cell)));
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`]
    .concat(cells.map((row) => `| ${row.join(' | ')} |`))
    .join('\n');
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export const verdict = (met: boolean) => (met ? 'met' : '**missed**');

/** Installs a Debian package when its command is missing (the bench runs as root on Debian). */
export async function ensureDebianTool(command: string, pkg: string): Promise<string> {
  const found = await whichCommand(command);
  if (found) return found;
  process.stderr.write(`installing ${pkg} (apt-get)...\n`);
  await run('apt-get', ['install', '-y', '--no-install-recommends', pkg], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    maxBuffer: 64 * 1024 * 1024,
  });
  const installed = await whichCommand(command);
  if (!installed) throw new Error(`${pkg} was installed but ${command} is still missing`);
  return installed;
}

async function whichCommand(command: string): Promise<string | undefined> {
  // Debian's own binaries only: something else earlier on PATH is not what the comparison names.
  for (const dir of ['/usr/bin', '/usr/sbin']) {
    const file = path.join(dir, command);
    if (fs.existsSync(file)) return file;
  }
  return undefined;
}

export function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `photosync-bench-${label}-`));
}

/** A private PostgreSQL schema, dropped by `drop()`; `env` points a child process at it. */
export async function createBenchSchema(label: string) {
  const schema = `bench_${label.replace(/[^a-z0-9]/g, '_')}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`create schema ${schema}`);
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    schema,
    url: url.toString(),
    drop: () => adminQuery(`drop schema if exists ${schema} cascade`),
  };
}

export async function adminQuery(text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

export async function postgresAvailable(): Promise<boolean> {
  try {
    await adminQuery('select 1');
    return true;
  } catch {
    return false;
  }
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** `photosync serve` in its own process, as deployed; resolves once it listens. */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of each server process there when it exits.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  const child = spawn(process.execPath, [...profile, path.join(REPO, 'bin/photosync.js'), 'serve'], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', PHOTOSYNC_LOG_LEVEL: 'warn', PHOTOSYNC_DEMO: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /running at (http:\/\/\S+)/.exec(output);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${output}`)));
  });
  return {
    child,
    url,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Resident memory of a process in MB (Linux). */
/**
 * CPU time (user + system, ms) used so far by these processes, from /proc. Unlike wall time it
 * does not grow while a process waits for a core, so it compares servers on a shared machine.
 */
export function cpuMs(pids: readonly number[]): number {
  const tick = 10; // USER_HZ is 100 on Linux
  return pids.reduce((sum, pid) => {
    const fields = (fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
    return sum + (Number(fields[11]) + Number(fields[12])) * tick;
  }, 0);
}

/** The children of a process (nginx's workers), from /proc. */
export function childPids(pid: number): number[] {
  return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

export function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

/** The sum of a Prometheus counter over all its label sets, read from /metrics. */
export async function metricTotal(baseUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) total += Number(line.split(' ').pop());
  }
  return total;
}

export function machineDescription(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GB RAM, ${os.type()} ${os.release()}`;
}
