import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { CACHE_CONTROL, clientHasCurrent, ifNoneMatchNames, ifNoneMatchTags, strongEtag } from './conditional.js';

describe('If-None-Match (RFC 9110 §13.1.2)', () => {
  const cases: Array<[string, string | undefined, boolean]> = [
    ['no header', undefined, false],
    ['the same strong tag', '"abc"', true],
    ['another tag', '"abd"', false],
    ['the weak form of the tag (weak comparison for GET)', 'W/"abc"', true],
    ['a list naming it', '"x", "abc", "y"', true],
    ['a list naming it weakly, without spaces', '"x",W/"abc"', true],
    ['a list not naming it', '"x", W/"y"', false],
    ['any representation', '*', true],
    ['any representation, with spaces', '  *  ', true],
    ['a star inside a list is no entity tag', '"x", *', false],
    ['an unquoted tag is no entity tag', 'abc', false],
    ['an unterminated tag', '"abc', false],
    ['junk around a good member', 'W/, "abc", ""', true],
    ['a comma inside the quotes belongs to the tag', '"ab,c"', false],
    ['the empty tag', '""', false],
    ['lower-case w/ is not the weak marker', 'w/"abc"', false],
    ['a very long tag', `"${'a'.repeat(4000)}"`, false],
  ];
  it.each(cases)('%s: %s → %s', (_what, header, names) => {
    expect(ifNoneMatchNames(header, 'abc')).toBe(names);
  });

  it('lists the opaque tags, W/ or not, and keeps commas inside quotes', () => {
    expect(ifNoneMatchTags('W/"a", "b" ,"c,d"')).toEqual(['a', 'b', 'c,d']);
    expect(ifNoneMatchTags('*')).toBe('*');
    expect(ifNoneMatchTags('')).toEqual([]);
  });

  it('quotes a strong ETag', () => {
    expect(strongEtag('4a1f')).toBe('"4a1f"');
  });
});

describe('clientHasCurrent', () => {
  it('sets ETag, Cache-Control and Vary, and says when the answer is 304', async () => {
    const app = Fastify();
    app.get('/bytes', (request, reply) => {
      const representation = { tag: 'v1', cacheControl: CACHE_CONTROL.revalidate, vary: 'Cookie' } as const;
      if (clientHasCurrent(request, reply, representation)) return reply.status(304).send();
      return reply.type('image/jpeg').send(Buffer.from([1, 2, 3]));
    });
    const full = await app.inject({ url: '/bytes' });
    expect(full.statusCode).toBe(200);
    expect(full.headers).toMatchObject({ etag: '"v1"', 'cache-control': 'private, no-cache', vary: 'Cookie' });
    const again = await app.inject({ url: '/bytes', headers: { 'if-none-match': 'W/"v0", "v1"' } });
    expect(again.statusCode).toBe(304);
    expect(again.rawPayload.length).toBe(0);
    expect(again.headers.etag).toBe('"v1"');
    expect((await app.inject({ url: '/bytes', headers: { 'if-none-match': '"v0"' } })).statusCode).toBe(200);
    await app.close();
  });
});
