import { describe, expect, it } from 'vitest';
import { FILE_FIELDS, listFilter, MAX_FILTER_LENGTH, SITE_USER_FIELDS } from '../sites/list-query.js';
import { splitClauses } from './odata-filter.js';

describe('splitClauses', () => {
  it('splits at the joiner outside quoted strings, with any whitespace around it', () => {
    expect(splitClauses("Email eq 'a' and Title eq 'b'", 'and')).toEqual(["Email eq 'a'", "Title eq 'b'"]);
    expect(splitClauses("Email eq 'a'   OR\t Title eq 'b or c'", 'or')).toEqual(["Email eq 'a'", "Title eq 'b or c'"]);
    expect(splitClauses("Title eq 'x and y'", 'and')).toEqual(["Title eq 'x and y'"]);
    expect(splitClauses("Title eq 'it''s' and Id eq 3", 'and')).toEqual(["Title eq 'it''s'", 'Id eq 3']);
    expect(splitClauses('a  and  b and c', 'and')).toEqual(['a', 'b', 'c']);
    expect(splitClauses('band and android', 'and')).toEqual(['band', 'android']);
  });

  it('goes over a long run of whitespace once (it took seconds, growing with the square of its length)', () => {
    const spaces = ' '.repeat(300_000);
    expect(splitClauses(`Title${spaces}x`, 'and')).toEqual([`Title${spaces}x`]);
    expect(splitClauses(`a${spaces}and${spaces}b`, 'and')).toEqual(['a', 'b']);
  });
});

describe('listFilter', () => {
  it('refuses a $filter longer than it takes, saying how long it may be', () => {
    const long = `Title eq 'a'${' or Title eq '.repeat(200)}`;
    expect(() => listFilter(long, SITE_USER_FIELDS)).toThrow(`at most ${MAX_FILTER_LENGTH} are taken`);
    // Up to the limit, whitespace costs one pass.
    expect(() => listFilter(`Title${' '.repeat(MAX_FILTER_LENGTH - 6)}x`, SITE_USER_FIELDS)).toThrow(
      'is not supported here',
    );
  });

  it('still tells and from or, outside quoted strings', () => {
    const entry = { Name: 'jane_contoso_com_MThumb.jpg', ServerRelativeUrl: '/x', Length: '10' };
    expect(listFilter("Name eq 'JANE_contoso_com_MThumb.jpg' or Name eq 'x'", FILE_FIELDS)(entry)).toBe(true);
    expect(listFilter("Name eq 'jane_contoso_com_MThumb.jpg' and Length eq 'a or b'", FILE_FIELDS)(entry)).toBe(false);
    expect(() => listFilter("Name eq 'a' and Name eq 'b' or Name eq 'c'", FILE_FIELDS)).toThrow('either and or or');
  });
});
