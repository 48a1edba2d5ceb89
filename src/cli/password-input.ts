import type { CliIo, CliReader } from './command.js';
import { CliError } from './output.js';

// A new password is never taken from the command line, where `ps` and the shell's history show it
// to others: it is typed at a prompt without echo (twice), or piped on standard input (its first
// line), e.g. `printf '%s\n' "$PASSWORD" | photosync users password jane@contoso.com`.

const MAX_PASSWORD_BYTES = 1000;

/** The new password from a terminal prompt or from standard input. */
export async function readNewPassword(io: CliIo): Promise<string> {
  const stdin = io.stdin;
  if (!stdin) throw new CliError('Pipe the new password on standard input, or run the command in a terminal.', 2);
  if (!stdin.isTTY) return firstLine(stdin);
  const keys = { chunks: stdin[Symbol.asyncIterator](), pending: '' };
  const first = await typedWithoutEcho(stdin, keys, io, 'New password: ');
  const again = await typedWithoutEcho(stdin, keys, io, 'Type it again: ');
  if (first !== again) throw new CliError('The two passwords differ; nothing was changed.');
  return first;
}

async function firstLine(stdin: CliReader): Promise<string> {
  let text = '';
  for await (const chunk of stdin) {
    text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    if (text.includes('\n') || text.length > MAX_PASSWORD_BYTES) break;
  }
  const line = text.split(/\r?\n/)[0] ?? '';
  if (line.length > MAX_PASSWORD_BYTES) throw new CliError(`A password is at most ${MAX_PASSWORD_BYTES} characters.`);
  if (line === '') throw new CliError('No password came on standard input; nothing was changed.');
  return line;
}

/** One line typed at the terminal in raw mode, so nothing typed is shown; Ctrl-C gives up. */
async function typedWithoutEcho(
  stdin: CliReader,
  keys: { chunks: AsyncIterator<Buffer | string>; pending: string },
  io: CliIo,
  prompt: string,
): Promise<string> {
  io.stderr.write(prompt);
  stdin.setRawMode?.(true);
  let typed = '';
  try {
    for (;;) {
      let text = keys.pending;
      keys.pending = '';
      if (text === '') {
        const next = await keys.chunks.next();
        if (next.done) break;
        text = typeof next.value === 'string' ? next.value : next.value.toString('utf8');
      }
      for (const [index, char] of [...text].entries()) {
        if (char === '\r' || char === '\n') {
          // A paste may bring both lines at once: the rest is the next answer.
          keys.pending = [...text]
            .slice(index + 1)
            .join('')
            .replace(/^\n/, '');
          return typed;
        }
        if (char === '\u0003') throw new CliError('Cancelled; nothing was changed.', 130);
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else typed += char;
      }
    }
    return typed;
  } finally {
    stdin.setRawMode?.(false);
    io.stderr.write('\n');
  }
}
