import { describe, expect, it } from 'vitest';
import { COMMANDS, positionalNames } from '../src/cli/registry.js';

// The registry is where every command's usage comes from (--help, the usage after a mistake, the
// topic lists): these checks keep each entry consistent with itself and with README.md.

describe('the command registry', () => {
  it('takes as many words after each command as its synopsis names', () => {
    for (const spec of COMMANDS) {
      expect(positionalNames(spec).length, `photosync ${spec.name} ${spec.synopsis}`).toBe(spec.args);
    }
  });
});
