#!/usr/bin/env node
// @ts-check
// The photosync command. It runs the compiled code in dist/ (`npm install` builds it). In a
// checkout, where src/ sits beside dist/, it first checks that nothing in src/ changed since the
// last build and builds again if something did, so an edit never runs as old code.
import fs from 'node:fs';

if (fs.existsSync(new URL('../src/', import.meta.url))) {
  const { ensureFreshBuild } = await import('../scripts/build.js');
  try {
    ensureFreshBuild({ log: (message) => process.stderr.write(`photosync: ${message}\n`) });
  } catch (error) {
    process.stderr.write(`photosync: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
// Stack traces (printed for bugs only) name the TypeScript sources.
process.setSourceMapsEnabled(true);
const { run, processIo } = await import(new URL('../dist/cli/main.js', import.meta.url).href);
process.exitCode = await run(process.argv.slice(2), processIo());
