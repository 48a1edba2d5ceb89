import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CliIo, CliReader } from './command.js';
import { readNewPassword } from './password-input.js';

/** A terminal that types `keys` in the given chunks and records raw mode. */
function terminal(chunks: string[]) {
  const modes: boolean[] = [];
  const stream = Readable.from(chunks.map((c) => Buffer.from(c))) as Readable & CliReader;
  stream.isTTY = true;
  stream.setRawMode = (mode: boolean) => modes.push(mode);
  return { stream, modes };
}

function io(stdin: CliReader | undefined) {
  let stderr = '';
  const value: CliIo = {
    stdout: { write: () => true },
    stderr: { write: (text: string) => (stderr += text) },
    stdin,
    env: {},
    cwd: '/',
  };
  return { value, stderr: () => stderr };
}

describe('reading a new password', () => {
  it('takes the first line of a pipe', async () => {
    expect(await readNewPassword(io(Readable.from([Buffer.from('pass word 1\r\nignored\n')])).value)).toBe(
      'pass word 1',
    );
  });

  it('prompts twice on a terminal without echo, with backspace, and leaves raw mode', async () => {
    const { stream, modes } = terminal(['secret', 'x\u007f pass\r', 'secret pass', '\r']);
    const out = io(stream);
    expect(await readNewPassword(out.value)).toBe('secret pass');
    expect(out.stderr()).toBe('New password: \nType it again: \n');
    expect(modes).toEqual([true, false, true, false]);
  });

  it('refuses two different passwords, an empty pipe and no standard input', async () => {
    await expect(readNewPassword(io(terminal(['one password\r', 'another one\r']).stream).value)).rejects.toThrow(
      'The two passwords differ',
    );
    await expect(readNewPassword(io(Readable.from([Buffer.from('\n')])).value)).rejects.toThrow('No password');
    expect(await readNewPassword(io(terminal(['pasted twice\r\npasted twice\r']).stream).value)).toBe('pasted twice');
    await expect(readNewPassword(io(undefined).value)).rejects.toThrow('Pipe the new password');
  });
});
