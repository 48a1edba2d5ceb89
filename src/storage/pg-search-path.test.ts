import { describe, expect, it } from 'vitest';
import { photosyncApplicationName, schemaOf } from './pg-application-name.js';
import { asSearchPathName, optionsWithSearchPath, searchPathNames } from './pg-search-path.js';

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

describe('optionsWithSearchPath', () => {
  const url = (options: string) => `postgres://h/db?sslmode=require&options=${encodeURIComponent(options)}`;
  it('replaces the search_path setting and keeps the others, in their order', () => {
    expect(optionsWithSearchPath('postgres://h/db', 'photos')).toBe('-c search_path=photos');
    expect(optionsWithSearchPath(url('-c search_path=old'), 'photos')).toBe('-c search_path=photos');
    expect(optionsWithSearchPath(url('-c statement_timeout=5s -c search_path=old,public -c work_mem=64MB'), 'p')).toBe(
      '-c statement_timeout=5s -c work_mem=64MB -c search_path=p',
    );
    for (const form of ['-csearch_path=old', '--search-path=old', '-c SEARCH_PATH=old', '--search_path="a\\ b"']) {
      expect(optionsWithSearchPath(url(`-c lock_timeout=1s ${form}`), 'p')).toBe('-c lock_timeout=1s -c search_path=p');
    }
    // A setting whose value holds an escaped space stays one setting.
    expect(optionsWithSearchPath(url('-c application_name=a\\ b'), 'p')).toBe(
      '-c application_name=a\\ b -c search_path=p',
    );
  });

  it('names the schema so PostgreSQL reads it back as that name', () => {
    const options = optionsWithSearchPath('postgres://h/db', 'Ph Otos');
    expect(options).toBe('-c search_path="Ph\\ Otos"');
    expect(schemaOf(`postgres://h/db?options=${encodeURIComponent(options)}`)).toBe('Ph Otos');
    expect(
      schemaOf(`postgres://h/db?options=${encodeURIComponent(optionsWithSearchPath('postgres://h/db', 'a\\b'))}`),
    ).toBe('a\\b');
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
