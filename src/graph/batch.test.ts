import type { FastifyRequest } from 'fastify';
import { describe, expect, it, vi } from 'vitest';
import type { App } from '../http/types.js';
import { parseBatch, runBatch } from './batch.js';

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

describe('runBatch, when one request fails unexpectedly', () => {
  it('answers that request 500 generalException, its dependants 424, and still runs the others', async () => {
    const steps = parse([
      { id: '1', method: 'GET', url: '/me' },
      // The router throwing instead of answering.
      { id: '2', method: 'GET', url: '/throws' },
      // An answer that says it is JSON and is not.
      { id: '3', method: 'GET', url: '/not-json' },
      { id: '4', method: 'GET', url: '/me/photo', dependsOn: ['2'] },
      { id: '5', method: 'GET', url: '/users' },
    ]);
    const inject = vi.fn(async ({ url }: { url: string }) => {
      if (url.includes('throws')) throw new Error('the router failed');
      return {
        statusCode: 200,
        headers: { 'content-type': 'application/json' },
        rawPayload: Buffer.from(url.includes('not-json') ? 'not json' : `{"url":"${url}"}`),
        body: url.includes('not-json') ? 'not json' : `{"url":"${url}"}`,
      };
    });
    const log = { error: vi.fn() };
    const request = { headers: { authorization: 'Bearer x' }, ip: '192.0.2.1', log };
    const answers = await runBatch({ inject } as unknown as App, request as unknown as FastifyRequest, steps);
    expect(answers.map((a) => [a.id, a.status])).toEqual([
      ['1', 200],
      ['2', 500],
      ['3', 500],
      ['4', 424],
      ['5', 200],
    ]);
    for (const failed of [answers[1]!, answers[2]!]) {
      expect(failed.headers).toEqual({ 'Content-Type': 'application/json' });
      expect(failed.body).toMatchObject({ error: { code: 'generalException', message: expect.any(String) } });
    }
    expect(answers[4]!.body).toEqual({ url: '/v1.0/users' });
    expect(inject).toHaveBeenCalledTimes(4);
    expect(log.error).toHaveBeenCalledTimes(2);
  });
});
