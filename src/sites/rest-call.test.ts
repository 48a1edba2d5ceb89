import { describe, expect, it } from 'vitest';
import { isAppError } from '../errors.js';
import { argumentValue, parseCall } from './rest-call.js';

describe('SharePoint REST method calls', () => {
  const calls: Array<[string, string, Record<string, string>]> = [
    ['GetMyProperties', 'GetMyProperties', {}],
    ['GetPropertiesFor(accountName=@v)', 'GetPropertiesFor', { accountname: '@v' }],
    [
      "GetUserProfilePropertyFor(accountName=@v, propertyName='PictureURL')",
      'GetUserProfilePropertyFor',
      { accountname: '@v', propertyname: "'PictureURL'" },
    ],
    [
      "GetPropertiesFor(accountName='i:0#.f|membership|a,b@contoso.com')",
      'GetPropertiesFor',
      {
        accountname: "'i:0#.f|membership|a,b@contoso.com'",
      },
    ],
    ["X(name='It''s')", 'X', { name: "'It''s'" }],
  ];
  it.each(calls)('%s', (call, name, args) => {
    const parsed = parseCall(call);
    expect(parsed.name).toBe(name);
    expect(Object.fromEntries(parsed.args)).toEqual(args);
  });

  it.each(['', 'Get Properties', 'GetPropertiesFor(accountName=x)', "F(a='1' b='2')", 'F(a=@v,,)'])(
    'refuses %j as invalid_request',
    (call) => {
      let thrown: unknown;
      try {
        parseCall(call);
      } catch (error) {
        thrown = error;
      }
      expect(isAppError(thrown) && thrown.id).toBe('invalid_request');
    },
  );

  it('reads quoted literals and @aliases from the query string', () => {
    expect(argumentValue("'It''s'", {})).toBe("It's");
    expect(argumentValue('@v', { '@v': " 'i:0#.f|membership|jane@contoso.com' " })).toBe(
      'i:0#.f|membership|jane@contoso.com',
    );
    expect(() => argumentValue('@v', {})).toThrow(/no value/);
    expect(() => argumentValue('plain', {})).toThrow(/not a quoted string/);
  });
});
