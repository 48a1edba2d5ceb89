import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCertificates, selfSignedCertificate } from './cli/commands/dev-cert.js';
import { ConfigError, loadConfig } from './config.js';

// PHOTOSYNC_TLS_CERT / PHOTOSYNC_TLS_KEY are checked at start-up: a wrong file stops the server
// with a sentence naming the setting, before any client meets a broken handshake.

describe('TLS settings', () => {
  let dir: string;
  let cert: string;
  let key: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-tls-config-'));
    ({ cert, key } = createDevCertificates(dir));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const problems = (env: Record<string, string>): string[] => {
    try {
      loadConfig(env, dir);
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    return [];
  };

  it('serves https with a dev-cert certificate, and the default public URL says https', () => {
    const config = loadConfig({ PHOTOSYNC_TLS_CERT: cert, PHOTOSYNC_TLS_KEY: 'localhost-key.pem', PORT: '8443' }, dir);
    expect(config.publicUrl).toBe('https://localhost:8443');
    expect(config.tls?.cert.toString()).toContain('BEGIN CERTIFICATE');
    expect(config.tls?.keyPath).toBe(key);
  });

  it('names what is wrong: one file only, a missing file, not PEM, another key, an expired certificate, an http URL', () => {
    expect(problems({ PHOTOSYNC_TLS_CERT: cert })).toEqual([
      'Set both PHOTOSYNC_TLS_CERT and PHOTOSYNC_TLS_KEY (PEM files), or neither for plain http.',
    ]);
    expect(problems({ PHOTOSYNC_TLS_CERT: cert, PHOTOSYNC_TLS_KEY: 'nope.pem' })[0]).toMatch(
      /^PHOTOSYNC_TLS_KEY cannot be read at .*nope\.pem: ENOENT\.$/,
    );
    fs.writeFileSync(path.join(dir, 'junk.pem'), 'not a certificate');
    expect(problems({ PHOTOSYNC_TLS_CERT: 'junk.pem', PHOTOSYNC_TLS_KEY: key })[0]).toMatch(/is not a PEM certificate/);
    const other = selfSignedCertificate('other');
    fs.writeFileSync(path.join(dir, 'other-key.pem'), other.privateKey);
    expect(problems({ PHOTOSYNC_TLS_CERT: cert, PHOTOSYNC_TLS_KEY: 'other-key.pem' })[0]).toMatch(
      /is not the key of the certificate/,
    );
    // A certificate whose time is over.
    const keys = forge.pki.rsa.generateKeyPair(1024);
    const expired = forge.pki.createCertificate();
    expired.publicKey = keys.publicKey;
    expired.serialNumber = '01';
    expired.validity.notBefore = new Date('2020-01-01');
    expired.validity.notAfter = new Date('2021-01-01');
    expired.setSubject([{ name: 'commonName', value: 'localhost' }]);
    expired.setIssuer([{ name: 'commonName', value: 'localhost' }]);
    expired.sign(keys.privateKey, forge.md.sha256.create());
    fs.writeFileSync(path.join(dir, 'expired.pem'), forge.pki.certificateToPem(expired));
    fs.writeFileSync(path.join(dir, 'expired-key.pem'), forge.pki.privateKeyToPem(keys.privateKey));
    expect(problems({ PHOTOSYNC_TLS_CERT: 'expired.pem', PHOTOSYNC_TLS_KEY: 'expired-key.pem' })).toEqual([
      expect.stringMatching(/^The certificate in PHOTOSYNC_TLS_CERT expired on /),
    ]);
    expect(
      problems({ PHOTOSYNC_TLS_CERT: cert, PHOTOSYNC_TLS_KEY: key, PHOTOSYNC_PUBLIC_URL: 'http://photos.contoso.com' }),
    ).toEqual([expect.stringMatching(/with PHOTOSYNC_TLS_CERT the server speaks https only/)]);
  });

  it('dev-cert keeps its CA when it renews the server certificate', () => {
    const ca = fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8');
    const before = fs.readFileSync(cert, 'utf8');
    const again = createDevCertificates(dir, ['photos.test']);
    expect(again.caCreated).toBe(false);
    expect(fs.readFileSync(again.caCert, 'utf8')).toBe(ca);
    expect(fs.readFileSync(again.cert, 'utf8')).not.toBe(before);
    expect(again.names).toEqual(['localhost', '127.0.0.1', '::1', 'photos.test']);
    expect((fs.statSync(again.caKey).mode & 0o777).toString(8)).toBe('600');
  });
});
