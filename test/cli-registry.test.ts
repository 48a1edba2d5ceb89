import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS, OPTION_EXAMPLES, positionalNames } from '../src/cli/registry.js';

// The registry is where every command's usage comes from (--help, the usage after a mistake, the
// topic lists): these checks keep each entry consistent with itself and with README.md.

describe('the command registry', () => {
  it('takes as many words after each command as its synopsis names', () => {
    for (const spec of COMMANDS) {
      expect(positionalNames(spec).length, `photosync ${spec.name} ${spec.synopsis}`).toBe(spec.args);
    }
  });

  it('has an example value for every option that takes one (told when the value is missing)', () => {
    for (const spec of COMMANDS) {
      for (const [name, option] of Object.entries(spec.options ?? {})) {
        if (option.type === 'string') expect(OPTION_EXAMPLES[name], `photosync ${spec.name} --${name}`).toBeTruthy();
      }
    }
  });

  it("lists every command in README.md's command block, with the synopsis --help shows, and nothing else", () => {
    const readme = fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Command line'));
    const block = /^```\n([\s\S]*?)^```$/m.exec(section)?.[1] ?? '';
    const lines = block.split('\n').filter((line) => line.startsWith('photosync '));
    expect(lines.length).toBeGreaterThan(0);
    for (const spec of COMMANDS) {
      const usage = `photosync ${spec.name}${spec.synopsis ? ` ${spec.synopsis}` : ''}`;
      const line = lines.find((l) => l === usage || l.startsWith(`${usage} `));
      expect(line, `README.md's command block has no line "${usage}"`).toBeDefined();
    }
    // And no command there that the registry (so the command line) does not have.
    for (const line of lines) {
      const [, first, second] = line.split(/\s+/);
      const named = COMMANDS.find((c) => c.name === `${first} ${second}`) ?? COMMANDS.find((c) => c.name === first);
      expect(named, line).toBeDefined();
    }
  });
});
