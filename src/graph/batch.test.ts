import { describe, expect, it } from 'vitest';
import { parseBatch } from './batch.js';

const parse = (requests: unknown[]) => parseBatch(Buffer.from(JSON.stringify({ requests })));

describe('parseBatch', () => {
  it('resolves each url under /v1.0, with or without its leading slash, its query kept', () => {
    const steps = parse([
      { id: '1', method: 'get', url: '/me?$select=displayName' },
      { id: '2', method: 'GET', url: 'users/jane@contoso.com/photo' },
      { id: '3', method: 'GET', url: '/users/./jane@contoso.com/../kalle@contoso.com' },
    ]);
    expect(steps.map((s) => [s.method, s.url])).toEqual([
      ['GET', '/v1.0/me?$select=displayName'],
      ['GET', '/v1.0/users/jane@contoso.com/photo'],
      ['GET', '/v1.0/users/kalle@contoso.com'],
    ]);
  });

  it('refuses a url that leaves /v1.0 however it is spelled, or names a scheme', () => {
    for (const url of ['', '/..', '../signin', '/%2e%2e/signin', '/me/%2E%2E/../admin', 'https://evil.example/x']) {
      expect(() => parse([{ id: '1', method: 'GET', url }]), url).toThrow(/needs a url relative to the version/);
    }
  });

  it('keeps the headers a request may set, and drops those that are the batch’s own', () => {
    const [step] = parse([
      {
        id: '1',
        method: 'GET',
        url: '/users',
        headers: {
          ConsistencyLevel: 'eventual',
          'If-None-Match': '"x"',
          Authorization: 'Bearer someone-else',
          Cookie: 'photosync_session=stolen',
          Host: 'elsewhere.example',
          'X-Forwarded-For': '198.51.100.1',
          'X-Forwarded-Proto': 'http',
          Forwarded: 'for=198.51.100.1',
          'Content-Length': '5',
        },
      },
    ]);
    expect(step!.headers).toEqual({ consistencylevel: 'eventual', 'if-none-match': '"x"' });
  });
});
