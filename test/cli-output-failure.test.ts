import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The command's own process, its standard output somewhere it cannot write: a full device, or a
// pipe whose reader has gone. Each ends in a sentence or quietly, never a stack trace.

const BIN = fileURLToPath(new URL('../bin/photosync.js', import.meta.url));

describe('photosync writing to an output it cannot write', () => {
  it.skipIf(!fs.existsSync('/dev/full'))('a full device: says so and exits 1', async () => {
    const full = fs.openSync('/dev/full', 'w');
    try {
      const child = spawn(process.execPath, [BIN, '--version'], { stdio: ['ignore', full, 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
      expect(stderr).toBe(
        'photosync: could not write to the standard output: ENOSPC: no space left on device, write\n',
      );
      expect(code).toBe(1);
    } finally {
      fs.closeSync(full);
    }
  });

  it('a pipe closed by its reader: ends quietly with 141', async () => {
    const child = spawn(process.execPath, [BIN, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Its reader gone before the command has started, let alone written the usage.
    child.stdout?.destroy();
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(141);
  });
});
