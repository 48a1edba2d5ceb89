import os from 'node:os';
import { Readable } from 'node:stream';
import { run } from '../../src/cli/main.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * One `photosync` command line run in this process through `run(argv, io)`, as bin/photosync.js
 * runs it, with its own output and only the given settings (a test store's `env`).
 */
export async function runCommand(
  args: string[],
  env: Record<string, string>,
  cwd = os.tmpdir(),
  stdin?: string,
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    ...(stdin !== undefined ? { stdin: Readable.from([Buffer.from(stdin)]) } : {}),
    env: { ...env },
    cwd,
  });
  return { code, stdout, stderr };
}
