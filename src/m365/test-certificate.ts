// Shared by the m365 *.test.ts files only; nothing in the app imports this.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestPem {
  certificate: string;
  privateKey: string;
  /** Both, as PHOTOSYNC_M365_CERTIFICATE takes them. */
  combined: string;
}

/** A real self-signed certificate made by openssl (the tool administrators use for this). */
export function makeTestCertificate(options: { keyType?: 'rsa' | 'ec'; days?: number; bits?: number } = {}): TestPem {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-cert-'));
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    const algorithm =
      options.keyType === 'ec'
        ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']
        : ['-newkey', `rsa:${options.bits ?? 2048}`];
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        ...algorithm,
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        String(options.days ?? 30),
        '-subj',
        '/CN=photosync-test',
      ],
      { stdio: 'ignore' },
    );
    const certificate = fs.readFileSync(cert, 'utf8');
    const privateKey = fs.readFileSync(key, 'utf8');
    return { certificate, privateKey, combined: `${certificate}${privateKey}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
