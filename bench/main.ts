import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import * as prettier from 'prettier';
import sharp from 'sharp';
import { findingsFor } from './findings.js';
import { REPO, machineDescription, run, type Section } from './support.js';

// `npm run bench` runs every part and writes BENCHMARKS.md; `npm run bench -- render serve` runs
// only those parts and prints them. Each part runs in its own process, so one part's memory,
// threads or libvips cache never colour another's figures.

const PARTS = {
  render: { file: 'render.ts', exportName: 'renderBench', env: { UV_THREADPOOL_SIZE: '1' } },
  action: { file: 'action.ts', exportName: 'actionBench', env: {} },
  serve: { file: 'serve.ts', exportName: 'serveBench', env: {} },
  scale: { file: 'scale.ts', exportName: 'scaleBench', env: {} },
  instances: { file: 'instances.ts', exportName: 'instancesBench', env: {} },
  images: { file: 'images.ts', exportName: 'imagesBench', env: {} },
  history: { file: 'history.ts', exportName: 'historyBench', env: {} },
  m365: { file: 'm365.ts', exportName: 'm365Bench', env: {} },
} as const;
type PartName = keyof typeof PARTS;
const isPart = (name: string): name is PartName => Object.hasOwn(PARTS, name);

const CHILD_FLAG = '--part-process';
/** With named parts: write their sections into BENCHMARKS.md, keeping every other section as it is. */
const UPDATE_FLAG = '--update';

async function runPartInThisProcess(name: PartName): Promise<void> {
  const part = PARTS[name];
  const module = (await import(`./${part.file}`)) as Record<string, () => Promise<Section>>;
  const section = await module[part.exportName]!();
  process.stdout.write(`\n${JSON.stringify(section)}\n`);
}

async function runPart(name: PartName): Promise<Section & { seconds: number }> {
  const started = performance.now();
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', path.join(REPO, 'bench/main.ts'), CHILD_FLAG, name],
    { env: { ...process.env, ...PARTS[name].env }, maxBuffer: 64 * 1024 * 1024, cwd: REPO },
  ).catch((error: Error & { stderr?: string }) => {
    throw new Error(`bench part ${name} failed:\n${error.stderr ?? error.message}`);
  });
  const last = stdout.trim().split('\n').pop() ?? '';
  return { ...(JSON.parse(last) as Section), seconds: (performance.now() - started) / 1000 };
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === CHILD_FLAG) {
    const name = argv[1] ?? '';
    if (!isPart(name)) throw new Error(`unknown part ${name}`);
    return runPartInThisProcess(name);
  }
  const update = argv.includes(UPDATE_FLAG);
  const named = argv.filter((a) => a !== UPDATE_FLAG);
  const unknown = named.filter((a) => !isPart(a));
  if (unknown.length > 0) {
    throw new Error(`Unknown bench part(s): ${unknown.join(', ')}. Parts: ${Object.keys(PARTS).join(', ')}.`);
  }
  if (update && named.length === 0) throw new Error(`${UPDATE_FLAG} needs the parts to update, e.g. images.`);
  const chosen = named.length > 0 ? (named as PartName[]) : (Object.keys(PARTS) as PartName[]);
  const started = performance.now();
  const sections: Array<Section & { seconds: number }> = [];
  for (const name of chosen) {
    process.stderr.write(`bench: ${name}...\n`);
    const section = await runPart(name);
    process.stderr.write(`bench: ${name} took ${section.seconds.toFixed(0)} s\n`);
    process.stdout.write(`\n## ${section.title}\n\n${section.body}\n`);
    sections.push(section);
  }
  const total = (performance.now() - started) / 1000;
  const report = await renderReport(sections, chosen, total);
  if (named.length === 0) {
    await writeBenchmarks(report);
    process.stderr.write(`bench: wrote BENCHMARKS.md (${total.toFixed(0)} s in all)\n`);
  } else if (update) {
    const replaced = withSectionsReplaced(fs.readFileSync(BENCHMARKS, 'utf8'), sections, named);
    await writeBenchmarks(withFindingsRedone(replaced));
    process.stderr.write(`bench: updated ${chosen.join(', ')} in BENCHMARKS.md (${total.toFixed(0)} s)\n`);
  } else {
    process.stderr.write(`bench: ${total.toFixed(0)} s; BENCHMARKS.md is written by a full run or ${UPDATE_FLAG}\n`);
  }
}

const BENCHMARKS = path.join(REPO, 'BENCHMARKS.md');

/** Formatted like every other file in the repository, so `npm run check` stays green after a run. */
async function writeBenchmarks(markdown: string): Promise<void> {
  const options = (await prettier.resolveConfig(BENCHMARKS)) ?? {};
  fs.writeFileSync(BENCHMARKS, await prettier.format(markdown, { ...options, filepath: BENCHMARKS }));
}

/**
 * The report with each of these sections replaced (from its `## title` to the next `##`) or, when
 * new, added before the closing findings; each says when and under what load it was measured,
 * since the report's header describes the last full run.
 */
function withSectionsReplaced(report: string, sections: Array<Section & { seconds: number }>, argv: string[]) {
  const [load] = fs.readFileSync('/proc/loadavg', 'utf8').split(' ');
  let text = report;
  for (const section of sections) {
    const note =
      `_(part took ${section.seconds.toFixed(0)} s; run on its own with \`npm run bench -- ${argv.join(' ')} ${UPDATE_FLAG}\`` +
      ` on ${new Date().toISOString()}, load average ${load} when it ended)_`;
    const block = `## ${section.title}\n\n${section.body}\n\n${note}\n\n`;
    const lines = text.split('\n');
    // A numbered section is found by its number: its title may carry figures that change.
    const number = /^\d+\./.exec(section.title)?.[0];
    const start = lines.findIndex((line) =>
      number === undefined ? line === `## ${section.title}` : line.startsWith(`## ${number} `),
    );
    if (start >= 0) {
      const next = lines.findIndex((line, i) => i > start && line.startsWith('## '));
      const end = next < 0 ? lines.length : next;
      text = [...lines.slice(0, start), block.trimEnd(), '', ...lines.slice(end)].join('\n');
    } else {
      // Numbered sections come first; the findings (an unnumbered heading) close the report.
      const findings = lines.findIndex((line) => /^## (?!\d)/.test(line));
      const at = findings < 0 ? lines.length : findings;
      text = [...lines.slice(0, at), block.trimEnd(), '', ...lines.slice(at)].join('\n');
    }
  }
  return text;
}

/**
 * The report with its findings written again from the numbered sections it now holds, so a part
 * run on its own neither keeps a finding for a miss it no longer shows nor leaves out a new one.
 */
function withFindingsRedone(report: string): string {
  const lines = report.split('\n');
  const heads = lines.flatMap((line, i) => (line.startsWith('## ') ? [i] : []));
  const sections = heads.map((start, k) => ({
    title: lines[start]!.slice(3),
    body: lines.slice(start + 1, heads[k + 1] ?? lines.length).join('\n'),
  }));
  const findings = findingsFor(
    sections.filter((section) => /^\d+\./.test(section.title)),
    0,
  );
  const at = heads.find((i) => lines[i] === `## ${findings.title}`);
  const block = [`## ${findings.title}`, '', findings.body, ''];
  if (at === undefined) return [...lines, ...block].join('\n');
  const next = heads.find((i) => i > at) ?? lines.length;
  return [...lines.slice(0, at), ...block, ...lines.slice(next)].join('\n');
}

async function renderReport(sections: Array<Section & { seconds: number }>, chosen: string[], total: number) {
  const [load] = fs.readFileSync('/proc/loadavg', 'utf8').split(' ');
  const pgVersion = await run('psql', ['--version']).then(
    (r) => r.stdout.trim(),
    () => 'PostgreSQL (psql not found)',
  );
  const findings = findingsFor(sections, total);
  return [
    '# Benchmarks',
    '',
    'Produced by `npm run bench` (one part: `npm run bench -- render`; parts: ' +
      `${Object.keys(PARTS).join(', ')}). Every comparison runs the alternatives in the same run on the`,
    'same inputs, interleaved, and reports medians (or percentiles) and ratios, so machine noise mostly cancels;',
    'absolute figures still move with the load on the machine.',
    '',
    `- Machine: ${machineDescription()}`,
    `- Load average when the run ended: ${load} (${process.env.BENCH_CONDITIONS ?? 'shared machine, other work running'})`,
    `- Node ${process.version}, sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}, ${pgVersion}`,
    `- Date: ${new Date().toISOString()}; parts run: ${chosen.join(', ')}; total ${total.toFixed(0)} s`,
    '',
    ...sections.flatMap((s) => [`## ${s.title}`, '', s.body, '', `_(part took ${s.seconds.toFixed(0)} s)_`, '']),
    `## ${findings.title}`,
    '',
    findings.body,
    '',
  ].join('\n');
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
