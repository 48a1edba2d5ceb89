import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config.js';
import { readClientCertificate } from './certificate.js';
import { deriveSiteUrls } from './settings.js';
import { makeTestCertificate, type TestPem } from './test-certificate.js';

let pem: TestPem;
beforeAll(() => {
  pem = makeTestCertificate();
});

const TENANT = 'contoso.onmicrosoft.com';
const CLIENT_ID = '6731de76-14a6-49ae-97bc-6eba6914391e';

function connectEnv(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    PHOTOSYNC_M365_TENANT: TENANT,
    PHOTOSYNC_M365_CLIENT_ID: CLIENT_ID,
    PHOTOSYNC_M365_CERTIFICATE: pem.combined,
    PHOTOSYNC_M365_SHAREPOINT_URL: 'https://contoso.sharepoint.com',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env, '/srv/app');
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('connect-mode settings', () => {
  it('are off when none is set', () => {
    expect(loadConfig({}, '/srv/app').m365).toBeUndefined();
  });

  it('derive the My Site and admin hosts and default to the public cloud', () => {
    const m365 = loadConfig(connectEnv(), '/srv/app').m365!;
    expect(m365).toMatchObject({
      tenant: TENANT,
      clientId: CLIENT_ID,
      sharePointUrl: 'https://contoso.sharepoint.com',
      mySiteUrl: 'https://contoso-my.sharepoint.com',
      adminUrl: 'https://contoso-admin.sharepoint.com',
      authorityHost: 'https://login.microsoftonline.com',
      graphUrl: 'https://graph.microsoft.com',
    });
    const der = new X509Certificate(pem.certificate).raw;
    expect(m365.certificate.thumbprintSha256).toBe(createHash('sha256').update(der).digest('hex').toUpperCase());
    // The Entra admin center lists certificates by their SHA-1 thumbprint.
    expect(m365.certificate.thumbprintSha1).toBe(createHash('sha1').update(der).digest('hex').toUpperCase());
    expect(m365.certificate.privateKeyPem()).toContain('BEGIN PRIVATE KEY');
  });

  it('take explicit hosts for sovereign clouds and tests, and a PEM file path', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-m365-'));
    fs.writeFileSync(path.join(dir, 'app.pem'), pem.combined);
    const m365 = loadConfig(
      connectEnv({
        PHOTOSYNC_M365_CERTIFICATE: 'app.pem',
        PHOTOSYNC_M365_SHAREPOINT_URL: 'https://localhost:8443/',
        PHOTOSYNC_M365_MYSITE_URL: 'https://localhost:8443',
        PHOTOSYNC_M365_ADMIN_URL: 'https://localhost:8443',
        PHOTOSYNC_M365_AUTHORITY_HOST: 'https://localhost:8443',
        PHOTOSYNC_M365_GRAPH_URL: 'https://localhost:8443',
      }),
      dir,
    ).m365!;
    fs.rmSync(dir, { recursive: true });
    expect(m365).toMatchObject({
      sharePointUrl: 'https://localhost:8443',
      mySiteUrl: 'https://localhost:8443',
      adminUrl: 'https://localhost:8443',
      authorityHost: 'https://localhost:8443',
      graphUrl: 'https://localhost:8443',
    });
  });

  it('are all or nothing: a partial set names what is missing', () => {
    const problems = problemsOf({
      PHOTOSYNC_M365_TENANT: TENANT,
      PHOTOSYNC_M365_GRAPH_URL: 'https://graph.microsoft.us',
    });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^PHOTOSYNC_M365_CLIENT_ID, PHOTOSYNC_M365_CERTIFICATE, PHOTOSYNC_M365_SHAREPOINT_URL must be set too/,
    );
  });

  it('report every wrong value by name', () => {
    const problems = problemsOf(
      connectEnv({
        PHOTOSYNC_M365_TENANT: 'common',
        PHOTOSYNC_M365_CLIENT_ID: 'my-app',
        PHOTOSYNC_M365_SHAREPOINT_URL: 'http://contoso.sharepoint.com',
        PHOTOSYNC_M365_AUTHORITY_HOST: 'https://login.microsoftonline.com/contoso',
        PHOTOSYNC_M365_GRAPH_URL: 'graph',
      }),
    );
    const names = problems.map((p) => p.split(' ')[0]);
    expect(names).toEqual([
      'PHOTOSYNC_M365_TENANT',
      'PHOTOSYNC_M365_CLIENT_ID',
      'PHOTOSYNC_M365_SHAREPOINT_URL',
      'PHOTOSYNC_M365_AUTHORITY_HOST',
      'PHOTOSYNC_M365_GRAPH_URL',
    ]);
  });

  it('need the My Site and admin URLs when they cannot be derived', () => {
    const problems = problemsOf(connectEnv({ PHOTOSYNC_M365_SHAREPOINT_URL: 'https://localhost:8443' }));
    expect(problems.map((p) => p.split(' ')[0])).toEqual(['PHOTOSYNC_M365_MYSITE_URL', 'PHOTOSYNC_M365_ADMIN_URL']);
  });

  it.each([
    ['a certificate without its key', () => pem.certificate, /no private key/],
    ['a key without its certificate', () => pem.privateKey, /no "BEGIN CERTIFICATE"/],
    ['a key of another certificate', () => `${pem.certificate}${makeTestCertificate().privateKey}`, /does not belong/],
    [
      'an EC certificate',
      () => makeTestCertificate({ keyType: 'ec' }).combined,
      /holds an EC key; Entra ID needs an RSA/,
    ],
    [
      'a 1024-bit RSA key, which MSAL cannot sign with',
      () => makeTestCertificate({ bits: 1024 }).combined,
      /holds a 1024-bit RSA key; Entra ID sign-in needs at least 2048 bits/,
    ],
    ['a missing file', () => '/nonexistent/app.pem', /names no file/],
  ])('refuse %s, saying why without showing the key', (_name, value, reason) => {
    const problems = problemsOf(connectEnv({ PHOTOSYNC_M365_CERTIFICATE: value() }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^PHOTOSYNC_M365_CERTIFICATE/);
    expect(problems[0]).toMatch(reason);
    expect(problems[0]).not.toMatch(/-----|MII/);
  });

  describe('a PKCS#12 (.pfx) file, as Windows and Key Vault export one', () => {
    let dir: string;
    let pfx: string;
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-pfx-'));
      fs.writeFileSync(path.join(dir, 'cert.pem'), pem.certificate);
      fs.writeFileSync(path.join(dir, 'key.pem'), pem.privateKey);
      pfx = path.join(dir, 'photosync.pfx');
      execFileSync(
        'openssl',
        ['pkcs12', '-export', '-in', 'cert.pem', '-inkey', 'key.pem', '-out', pfx, '-passout', 'pass:secret'],
        { cwd: dir, stdio: 'ignore' },
      );
      return () => fs.rmSync(dir, { recursive: true, force: true });
    });

    it('is named as such, with the command that converts it', () => {
      const problems = problemsOf(connectEnv({ PHOTOSYNC_M365_CERTIFICATE: pfx }));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(`PHOTOSYNC_M365_CERTIFICATE (${pfx}) is a PKCS#12 (.pfx) file`);
      expect(problems[0]).toContain(`openssl pkcs12 -in ${pfx} -nodes -out ${path.join(dir, 'photosync.pem')}`);
    });

    it('in base64 too, without repeating the value', () => {
      const encoded = fs.readFileSync(pfx).toString('base64');
      const problems = problemsOf(connectEnv({ PHOTOSYNC_M365_CERTIFICATE: encoded }));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^PHOTOSYNC_M365_CERTIFICATE \(base64\) is a PKCS#12 \(\.pfx\) file/);
      expect(problems[0]).toContain('openssl pkcs12 -in photosync.pfx -nodes -out photosync.pem');
      expect(problems[0]).not.toContain(encoded.slice(0, 40));
    });

    it('and the PEM that command makes of it is taken', () => {
      const converted = path.join(dir, 'photosync.pem');
      execFileSync('openssl', ['pkcs12', '-in', pfx, '-nodes', '-out', converted, '-passin', 'pass:secret'], {
        stdio: 'ignore',
      });
      const certificate = loadConfig(connectEnv({ PHOTOSYNC_M365_CERTIFICATE: converted }), '/srv/app').m365!
        .certificate;
      expect(certificate.thumbprintSha256).toBe(
        loadConfig(connectEnv(), '/srv/app').m365!.certificate.thumbprintSha256,
      );
    });
  });

  it('take the PEM in base64, as secret stores often hold it, with or without line breaks', () => {
    for (const encoded of [
      Buffer.from(pem.combined).toString('base64'),
      Buffer.from(pem.combined)
        .toString('base64')
        .replace(/.{76}/g, (line) => `${line}\n`),
    ]) {
      const config = loadConfig(connectEnv({ PHOTOSYNC_M365_CERTIFICATE: encoded }), '/srv/app');
      expect(config.m365!.certificate.privateKeyPem()).toBe(
        loadConfig(connectEnv(), '/srv/app').m365!.certificate.privateKeyPem(),
      );
    }
  });

  it.each([
    [
      'base64 of a key without its certificate',
      () => Buffer.from(pem.privateKey).toString('base64'),
      /no "BEGIN CERTIFICATE"/,
    ],
    ['base64 of the key in DER', () => pem.privateKey.split('\n').slice(1, -2).join(''), /neither PEM text/],
    [
      'a long value that is no path',
      () => `${pem.privateKey.replace(/\n/g, ' ')}`.replace(/-----[A-Z ]+-----/g, '!'),
      /neither PEM text/,
    ],
  ])('refuse %s without repeating the value', (_name, value, reason) => {
    const raw = value();
    const problems = problemsOf(connectEnv({ PHOTOSYNC_M365_CERTIFICATE: raw }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^PHOTOSYNC_M365_CERTIFICATE/);
    expect(problems[0]).toMatch(reason);
    expect(problems[0]).not.toMatch(/-----|MII/);
    expect(problems[0]!.length).toBeLessThan(300);
  });

  it('never show the private key in JSON or inspected output', () => {
    const config = loadConfig(connectEnv(), '/srv/app');
    const keyBody = pem.privateKey.split('\n')[1]!;
    const exported = config.m365!.certificate.privateKeyPem().split('\n')[1]!;
    for (const text of [JSON.stringify(config), inspect(config, { depth: 10 }), JSON.stringify({ ...config.m365 })]) {
      expect(text).not.toContain(keyBody);
      expect(text).not.toContain(exported);
      expect(text).not.toContain('PRIVATE KEY');
    }
  });

  it("never show the proxy's password in JSON or inspected output, and refuse what is no proxy URL", () => {
    const config = loadConfig(connectEnv({ HTTPS_PROXY: 'http://alice:hunter2@proxy.example:3128' }), '/srv/app');
    expect(config.m365!.proxy.https?.variable).toBe('HTTPS_PROXY');
    for (const text of [JSON.stringify(config), inspect(config, { depth: 10 }), JSON.stringify({ ...config.m365 })]) {
      expect(text).not.toContain('hunter2');
    }
    const problems = problemsOf(connectEnv({ https_proxy: 'socks5://alice:hunter2@proxy.example:1080' }));
    expect(problems).toEqual([
      `https_proxy must be the proxy's URL, like http://proxy.example:3128 or http://user:password@proxy.example:3128 (an http:// or https:// proxy), got "socks5://alice:[removed]@proxy.example:1080".`,
    ]);
  });
});

describe('deriveSiteUrls', () => {
  it.each([
    ['https://contoso.sharepoint.com', 'https://contoso-my.sharepoint.com', 'https://contoso-admin.sharepoint.com'],
    ['https://fabrikam.sharepoint.us', 'https://fabrikam-my.sharepoint.us', 'https://fabrikam-admin.sharepoint.us'],
    ['https://contoso.sharepoint.cn:443', 'https://contoso-my.sharepoint.cn', 'https://contoso-admin.sharepoint.cn'],
  ])('%s', (url, mySiteUrl, adminUrl) => {
    expect(deriveSiteUrls(url)).toEqual({ mySiteUrl, adminUrl });
  });

  it('does not guess for hosts without a tenant label', () => {
    expect(deriveSiteUrls('https://localhost:8443')).toBeUndefined();
    expect(deriveSiteUrls('https://contoso-my.sharepoint.com')).toBeUndefined();
  });
});

describe('readClientCertificate', () => {
  it('refuses a certificate past its end date, which Entra ID would refuse too', () => {
    const later = new Date(Date.now() + 60 * 24 * 3600 * 1000);
    const result = readClientCertificate(pem.combined, later);
    expect(result).toEqual({ problem: expect.stringMatching(/^holds a certificate that expired on \d{4}-/) });
  });
});

describe('PHOTOSYNC_M365_SCAN_EVERY', () => {
  const scanEvery = (value: string | undefined) =>
    loadConfig(connectEnv({ PHOTOSYNC_M365_SCAN_EVERY: value }), '/srv/app').m365?.scanEveryMs;

  it('is off unless set, and takes minutes, hours or days of at least 15 minutes', () => {
    expect(scanEvery(undefined)).toBeUndefined();
    expect(scanEvery('off')).toBeUndefined();
    expect(scanEvery('30m')).toBe(30 * 60_000);
    expect(scanEvery('6h')).toBe(6 * 3_600_000);
    expect(scanEvery('1d')).toBe(86_400_000);
    expect(scanEvery('30d')).toBe(30 * 86_400_000);
  });

  it('refuses anything else, saying what it takes', () => {
    // Longer than the console's longest (30 days) is refused too, not quietly shortened to it.
    for (const value of ['5m', 'hourly', '6', '-1h', '31d', '745h']) {
      expect(problemsOf(connectEnv({ PHOTOSYNC_M365_SCAN_EVERY: value }))).toEqual([
        `PHOTOSYNC_M365_SCAN_EVERY must be off or an interval from 15 minutes to 30 days such as 30m, 6h or 1d, got "${value}".`,
      ]);
    }
  });
});
