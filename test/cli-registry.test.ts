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
});
