import { describe, expect, it } from 'vitest';
import { photosyncApplicationName, schemaOf } from './pg-application-name.js';
import { asSearchPathName, searchPathNames } from './pg-search-path.js';

describe('searchPathNames', () => {
  it('reads names as PostgreSQL does', () => {
    expect(searchPathNames('"$user", public')).toEqual(['$user', 'public']);
    expect(searchPathNames('T_ABC,Public')).toEqual(['t_abc', 'public']);
    expect(searchPathNames(' "Ph Otos" , "a,b", "say ""hi"""')).toEqual(['Ph Otos', 'a,b', 'say "hi"']);
    // Only A–Z fold: PostgreSQL leaves other letters of a name without quotes as they are.
    expect(searchPathNames('Élan')).toEqual(['Élan']);
    expect(searchPathNames('')).toEqual([]);
    expect(searchPathNames(`${'a'.repeat(70)}`)).toEqual(['a'.repeat(63)]);
    // Cut at 63 bytes, never inside a character.
    expect(searchPathNames(`"${'a'.repeat(62)}é"`)).toEqual(['a'.repeat(62)]);
  });

  it('gives a name back in the form search_path reads as that name', () => {
    for (const name of ['t_abc', 'T_ABC', 'Ph Otos', 'say "hi"', 'a,b']) {
      expect(searchPathNames(asSearchPathName(name))).toEqual([name]);
    }
    expect(asSearchPathName('t_abc')).toBe('t_abc');
  });
});

describe('schemaOf', () => {
  const url = (options: string) => `postgres://h/db?options=${encodeURIComponent(options)}`;
  it('is the first schema of the search_path in the URL, spelt as PostgreSQL reads it', () => {
    expect(schemaOf(url('-c search_path=T_ABC'))).toBe('t_abc');
    expect(schemaOf(url('-c search_path=t_abc,public'))).toBe('t_abc');
    expect(schemaOf(url('-c search_path="$user",photos'))).toBe('photos');
    expect(schemaOf(url('-c search_path="Ph\\ Otos" -c statement_timeout=5s'))).toBe('Ph Otos');
    expect(schemaOf('postgres://h/db')).toBe('');
    expect(photosyncApplicationName(url('-c search_path=T_ABC'))).toBe(
      photosyncApplicationName(url('-c search_path=t_abc')),
    );
  });
});
