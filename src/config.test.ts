import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, publicUrlOf } from './config.js';

describe('loadConfig', () => {
  it('runs on a laptop with no settings at all', () => {
    const config = loadConfig({}, '/srv/app');
    expect(config).toMatchObject({
      dataDir: '/srv/app/data',
      databaseUrl: undefined,
      port: 8080,
      publicUrl: 'http://localhost:8080',
      renditionSizes: { S: 48, M: 72, L: 300 },
      recheckSeconds: 0,
      errorBackoffSeconds: 300,
      seedDemo: true,
    });
  });

  it('reads every setting', () => {
    const config = loadConfig({
      PORT: '9000',
      DATABASE_URL: 'postgres://db/photos',
      PHOTOSYNC_DATA_DIR: '/var/lib/photosync',
      PHOTOSYNC_PUBLIC_URL: 'https://my.contoso.com/',
      PHOTOSYNC_RENDITION_SIZES: '48,72,200',
      PHOTOSYNC_RECHECK_SECONDS: '60',
      PHOTOSYNC_ERROR_BACKOFF_SECONDS: '10',
      PHOTOSYNC_DEMO: 'off',
      SMTP_URL: 'smtp://mail.contoso.com:2525',
      PHOTOSYNC_MAIL_FROM: 'photos@contoso.com',
    });
    expect(config).toMatchObject({
      smtpUrl: 'smtp://mail.contoso.com:2525',
      mailFrom: 'photos@contoso.com',
      port: 9000,
      databaseUrl: 'postgres://db/photos',
      dataDir: '/var/lib/photosync',
      publicUrl: 'https://my.contoso.com',
      renditionSizes: { S: 48, M: 72, L: 200 },
      recheckSeconds: 60,
      errorBackoffSeconds: 10,
      seedDemo: false,
    });
  });

  it('reports every invalid or unknown setting at once, by name', () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: '1e3',
        DATABASE_URL: 'mysql://x',
        PHOTOSYNC_RENDITION_SIZES: '300,72,48',
        PHOTOSYNC_DEMO: 'maybe',
        PHOTOSYNC_RECHEK_SECONDS: '5',
        PHOTOSYNC_FAULT_INJECTION: 'before-commit',
        SMTP_URL: 'http://mail',
        PHOTOSYNC_MAIL_FROM: 'not an address',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { problems } = error as ConfigError;
    expect(problems).toHaveLength(8);
    for (const name of [
      'PORT',
      'DATABASE_URL',
      'PHOTOSYNC_RENDITION_SIZES',
      'PHOTOSYNC_DEMO',
      'PHOTOSYNC_RECHEK_SECONDS',
      'PHOTOSYNC_FAULT_INJECTION',
      'SMTP_URL',
      'PHOTOSYNC_MAIL_FROM',
    ]) {
      expect(problems.some((p) => p.startsWith(name))).toBe(true);
    }
  });

  it('takes a metrics token long enough not to be guessed, and never shows a refused one', () => {
    const token = 'c0ffee'.repeat(8);
    expect(loadConfig({ PHOTOSYNC_METRICS_TOKEN: ` ${token} ` }).metricsToken).toBe(token);
    expect(loadConfig({}).metricsToken).toBeUndefined();
    for (const bad of ['short-secret', 'has spaces in the middle of it', 'quote"d-token-of-some-length', '   ']) {
      let problems: string[] = [];
      try {
        loadConfig({ PHOTOSYNC_METRICS_TOKEN: bad });
      } catch (error) {
        ({ problems } = error as ConfigError);
      }
      expect(problems, bad).toHaveLength(1);
      expect(problems[0]).toMatch(/^PHOTOSYNC_METRICS_TOKEN must be at least 20 characters/);
      if (bad.trim()) expect(problems[0]).not.toContain(bad);
    }
  });

  it('stops on an SMTP_URL nodemailer could not read, without showing its password', () => {
    for (const [url, shown] of [
      ['smtp://mailer:p#ss@mail.contoso.com:587', 'smtp://mailer:…@mail.contoso.com:587'],
      ['smtp://mailer:p?ss@mail.contoso.com:587', 'smtp://mailer:…@mail.contoso.com:587'],
      ['smtp://mail.contoso.com:abc', 'smtp://mail.contoso.com:abc'],
      ['smtp://mail.contoso.com:99999', 'smtp://mail.contoso.com:99999'],
      ['smtp://mailer@:25', 'smtp://mailer@:25'],
    ]) {
      let problems: string[] = [];
      try {
        loadConfig({ SMTP_URL: url });
      } catch (error) {
        ({ problems } = error as ConfigError);
      }
      expect(problems, url).toHaveLength(1);
      expect(problems[0]!.startsWith('SMTP_URL must look like smtp://host:port'), problems[0]).toBe(true);
      expect(problems[0]!.endsWith(`got "${shown}".`), problems[0]).toBe(true);
    }
    expect(loadConfig({ SMTP_URL: 'smtp://mailer:p%23ss@mail.contoso.com:587' }).smtpUrl).toBe(
      'smtp://mailer:p%23ss@mail.contoso.com:587',
    );
  });

  it('keeps image work below the thread pool, with laptop defaults', () => {
    expect(loadConfig({}).imageQueue).toEqual({
      concurrency: 2,
      maxWaiting: 32,
      memoryBytes: 512 * 1024 * 1024,
      deadlineSeconds: 15,
    });
    const set = {
      PHOTOSYNC_IMAGE_CONCURRENCY: '3',
      PHOTOSYNC_IMAGE_QUEUE: '100',
      PHOTOSYNC_IMAGE_MEMORY_MB: '256',
      PHOTOSYNC_IMAGE_DEADLINE_SECONDS: '5',
    };
    expect(loadConfig(set).imageQueue).toEqual({
      concurrency: 3,
      maxWaiting: 100,
      memoryBytes: 256 * 1024 * 1024,
      deadlineSeconds: 5,
    });
    // A deadline may have a fraction of a second.
    for (const half of ['0.5', '.5', ' 0.50 ']) {
      expect(loadConfig({ PHOTOSYNC_IMAGE_DEADLINE_SECONDS: half }).imageQueue.deadlineSeconds).toBe(0.5);
    }
    // 0 turns the queue off; a bigger pool allows more at once.
    expect(loadConfig({ PHOTOSYNC_IMAGE_CONCURRENCY: '0' }).imageQueue.concurrency).toBe(0);
    expect(loadConfig({ PHOTOSYNC_IMAGE_CONCURRENCY: '6', UV_THREADPOOL_SIZE: '8' }).imageQueue.concurrency).toBe(6);
    for (const env of [
      { PHOTOSYNC_IMAGE_CONCURRENCY: '4' },
      { PHOTOSYNC_IMAGE_CONCURRENCY: '2', UV_THREADPOOL_SIZE: '2' },
      { PHOTOSYNC_IMAGE_DEADLINE_SECONDS: '0' },
      { PHOTOSYNC_IMAGE_DEADLINE_SECONDS: '0.05' },
      { PHOTOSYNC_IMAGE_DEADLINE_SECONDS: '1e3' },
      { PHOTOSYNC_IMAGE_MEMORY_MB: '10' },
    ]) {
      expect(() => loadConfig(env), JSON.stringify(env)).toThrow(Object.keys(env)[0]!);
    }
    expect(() => loadConfig({ PHOTOSYNC_IMAGE_CONCURRENCY: '4' })).toThrow(/below libuv's thread pool size/);
  });

  it('gives clients a deadline for their headers and for the whole request', () => {
    expect(loadConfig({}).deadlines).toEqual({ headersSeconds: 10, requestSeconds: 60 });
    expect(
      loadConfig({ PHOTOSYNC_HEADERS_TIMEOUT_SECONDS: '5', PHOTOSYNC_REQUEST_TIMEOUT_SECONDS: '120' }).deadlines,
    ).toEqual({ headersSeconds: 5, requestSeconds: 120 });
    expect(() => loadConfig({ PHOTOSYNC_REQUEST_TIMEOUT_SECONDS: '0' })).toThrow('PHOTOSYNC_REQUEST_TIMEOUT_SECONDS');
    // Node refuses a headers deadline longer than the request's, so start-up says so first.
    expect(() =>
      loadConfig({ PHOTOSYNC_HEADERS_TIMEOUT_SECONDS: '30', PHOTOSYNC_REQUEST_TIMEOUT_SECONDS: '20' }),
    ).toThrow(/headers are part of the request/);
  });

  it('makes every absolute URL from one base: PHOTOSYNC_PUBLIC_URL, else this machine at the port served', () => {
    expect(loadConfig({ PORT: '9001' }).publicUrl).toBe('http://localhost:9001');
    expect(loadConfig({ PORT: '9001', PHOTOSYNC_PUBLIC_URL: 'https://photos.contoso.com/' }).publicUrl).toBe(
      'https://photos.contoso.com',
    );
    // PORT=0: the port the system gave, and https when the server speaks it (serve uses this).
    expect(publicUrlOf({ PORT: '0' }, { tls: true, port: 43_210 })).toBe('https://localhost:43210');
    expect(publicUrlOf({ PORT: '0' }, { tls: false, port: 43_210 })).toBe('http://localhost:43210');
    expect(publicUrlOf({ PHOTOSYNC_PUBLIC_URL: 'https://p.example//' }, { tls: false, port: 1 })).toBe(
      'https://p.example',
    );
  });
});

describe('PHOTOSYNC_TRUST_PROXY', () => {
  const problemsOf = (value: string) => {
    try {
      loadConfig({ PHOTOSYNC_TRUST_PROXY: value }, '/srv/app');
      return [];
    } catch (error) {
      return (error as ConfigError).problems;
    }
  };

  it('is off unless set, and takes addresses, CIDRs and named ranges', () => {
    expect(loadConfig({}, '/srv/app').trustProxy).toBeUndefined();
    expect(
      loadConfig({ PHOTOSYNC_TRUST_PROXY: ' 127.0.0.1, 10.0.0.0/8 ,::1,fd00::/8,uniquelocal' }, '/srv/app').trustProxy,
    ).toEqual(['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', 'uniquelocal']);
  });

  it('refuses what is not a proxy address, naming it', () => {
    expect(problemsOf('true')).toEqual([
      'PHOTOSYNC_TRUST_PROXY must list the proxies\' addresses or CIDRs (e.g. 127.0.0.1,10.0.0.0/8) or loopback, linklocal, uniquelocal; "true" is not one.',
    ]);
    expect(problemsOf('10.0.0.0/33, nginx')[0]).toContain('"10.0.0.0/33", "nginx" are not one.');
  });
});
