import { describe, expect, it } from 'vitest';
import { scrub } from './errors.js';
import { describeRoute, proxyFor, readOutboundProxy, shownProxy, ThroughProxyError } from './proxy.js';

const read = (env: Record<string, string>) => {
  const problems: string[] = [];
  return { proxy: readOutboundProxy(env, problems), problems };
};

describe('the proxy variables', () => {
  it('takes HTTPS_PROXY for https, HTTP_PROXY when it is the only one, and the lower-case forms first', () => {
    const both = read({ HTTPS_PROXY: 'http://secure:3128', HTTP_PROXY: 'http://plain:3128' }).proxy;
    expect(proxyFor(both, 'https://graph.microsoft.com')?.url()).toBe('http://secure:3128/');
    expect(proxyFor(both, 'http://example.com')?.url()).toBe('http://plain:3128/');

    const httpOnly = read({ HTTP_PROXY: 'http://plain:3128' }).proxy;
    expect(proxyFor(httpOnly, 'https://graph.microsoft.com')).toMatchObject({ variable: 'HTTP_PROXY' });

    const lower = read({ https_proxy: 'http://lower:3128', HTTPS_PROXY: 'http://upper:3128' }).proxy;
    expect(proxyFor(lower, 'https://graph.microsoft.com')).toMatchObject({ variable: 'https_proxy' });

    expect(proxyFor(read({}).proxy, 'https://graph.microsoft.com')).toBeUndefined();
    expect(proxyFor(read({ HTTPS_PROXY: '  ' }).proxy, 'https://graph.microsoft.com')).toBeUndefined();
  });

  it('takes a proxy without a scheme as http://, and refuses what is no proxy URL without repeating its password', () => {
    expect(read({ HTTPS_PROXY: 'proxy.example:3128' }).proxy.https?.url()).toBe('http://proxy.example:3128/');
    for (const value of ['socks5://alice:hunter2@proxy:1080', 'http://alice:hunter2@proxy:3128/some/path', 'http://']) {
      const { proxy, problems } = read({ HTTPS_PROXY: value });
      expect(proxy.https).toBeUndefined();
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^HTTPS_PROXY must be the proxy's URL, like http:\/\/proxy\.example:3128/);
      expect(problems[0]).not.toContain('hunter2');
    }
  });

  it('refuses a user name without a password, or a password without a user name, as the proxy would be sent neither', () => {
    const user = read({ HTTPS_PROXY: 'http://alice@proxy.example:3128' });
    expect(user.proxy.https).toBeUndefined();
    expect(user.problems).toEqual([
      'HTTPS_PROXY gives the user name "alice" but no password, and photosync sends the proxy its credentials only as both: write them as http://user:password@proxy.example:3128, or neither if the proxy asks for none, got "http://alice@proxy.example:3128".',
    ]);
    expect(read({ https_proxy: 'http://alice:@proxy.example:3128' }).problems[0]).toMatch(
      /^https_proxy gives the user name "alice" but no password/,
    );
    const password = read({ HTTP_PROXY: 'http://:hunter2@proxy.example:3128' });
    expect(password.proxy.http).toBeUndefined();
    expect(password.problems).toHaveLength(1);
    expect(password.problems[0]).toMatch(/^HTTP_PROXY gives a password but no user name/);
    expect(password.problems[0]).not.toContain('hunter2');

    const both = read({ HTTPS_PROXY: 'http://alice:s3cret@proxy.example:3128' });
    expect(both.problems).toEqual([]);
    expect(both.proxy.https?.credentials).toBe(true);
    expect(read({ HTTPS_PROXY: 'http://proxy.example:3128' }).proxy.https?.credentials).toBe(false);
  });

  it.each([
    ['localhost', 'https://localhost:8443', false],
    ['.contoso.com', 'https://graph.contoso.com', false],
    ['*.contoso.com', 'https://contoso.com', false],
    ['contoso.com', 'https://my.contoso.com', false],
    ['contoso.com', 'https://notcontoso.com', true],
    ['CONTOSO.com:443', 'https://contoso.com', false],
    ['contoso.com:8443', 'https://contoso.com', true],
    ['127.0.0.1', 'https://127.0.0.1:9000', false],
    ['[::1]:9000', 'https://[::1]:9000', false],
    ['::1', 'https://[::1]:9000', false],
    ['a.example, localhost b.example', 'https://localhost', false],
    ['*', 'https://anything.example', false],
    ['', 'https://localhost', true],
  ])('NO_PROXY=%j → %s through the proxy: %s', (noProxy, url, proxied) => {
    const { proxy } = read({ HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: noProxy });
    expect(proxyFor(proxy, url) !== undefined).toBe(proxied);
  });
});

describe('the proxy in words', () => {
  const { proxy } = read({
    HTTPS_PROXY: 'http://alice:s%40cret@proxy.example:3128',
    no_proxy: 'contoso.sharepoint.com',
  });

  it('never shows the password', () => {
    expect(shownProxy(proxy.https!)).toBe('http://alice:[removed]@proxy.example:3128');
    expect(shownProxy(read({ HTTPS_PROXY: 'http://proxy:3128' }).proxy.https!)).toBe('http://proxy:3128');
    const error = new ThroughProxyError(proxy.https!, new Error('connect ECONNREFUSED'));
    expect(error.message).toBe(
      'Through the proxy http://alice:[removed]@proxy.example:3128 (HTTPS_PROXY): connect ECONNREFUSED',
    );
    expect(scrub('via http://alice:s%40cret@proxy.example:3128 and https://bob:pw@x.example/y')).toBe(
      'via http://alice:[removed]@proxy.example:3128 and https://bob:[removed]@x.example/y',
    );
  });

  it('says which addresses go through which proxy, and which NO_PROXY exempts', () => {
    const tenant = ['https://login.microsoftonline.com', 'https://graph.microsoft.com'];
    expect(describeRoute(proxy, tenant)).toBe(
      'http://alice:[removed]@proxy.example:3128 (HTTPS_PROXY), for every address of the tenant',
    );
    expect(describeRoute(proxy, [...tenant, 'https://contoso.sharepoint.com'])).toBe(
      'http://alice:[removed]@proxy.example:3128 (HTTPS_PROXY); directly to https://contoso.sharepoint.com (no_proxy)',
    );
    expect(describeRoute(proxy, ['https://contoso.sharepoint.com'])).toBe(
      'none: no_proxy exempts every address of the tenant from http://alice:[removed]@proxy.example:3128 (HTTPS_PROXY)',
    );
    expect(describeRoute(read({}).proxy, tenant)).toBe(
      'none: HTTPS_PROXY and HTTP_PROXY are not set, so photosync connects directly',
    );
  });
});
