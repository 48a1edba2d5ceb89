import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { BIN, cleanEnv, run } from './support/tls-server.js';

// `photosync dev-cert` as a developer runs it, and `photosync serve` refusing TLS files that do
// not hold, before it listens.

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-dev-cert-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('prints the two settings and the NODE_EXTRA_CA_CERTS line; serve refuses a key that is not the certificate’s', async () => {
  const out = path.join(dir, 'tls');
  const made = await run([BIN, 'dev-cert', '--out', out], { ...cleanEnv(), PHOTOSYNC_DATA_DIR: dir });
  expect(made.code, made.stderr).toBe(0);
  expect(made.stdout).toContain(`PHOTOSYNC_TLS_CERT=${path.join(out, 'localhost.pem')}`);
  expect(made.stdout).toContain(`PHOTOSYNC_TLS_KEY=${path.join(out, 'localhost-key.pem')}`);
  expect(made.stdout).toContain(`export NODE_EXTRA_CA_CERTS=${path.join(out, 'ca.pem')}`);

  const refused = await run([BIN, 'serve'], {
    ...cleanEnv(),
    PHOTOSYNC_DATA_DIR: dir,
    PHOTOSYNC_DEMO: 'false',
    PHOTOSYNC_TLS_CERT: path.join(out, 'localhost.pem'),
    PHOTOSYNC_TLS_KEY: path.join(out, 'ca-key.pem'),
  });
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain('is not the key of the certificate in PHOTOSYNC_TLS_CERT');
  expect(refused.stdout).not.toContain('photosync is running');
});

it('--out naming a file, not a folder, is told as such, and is no bug', async () => {
  const file = path.join(dir, 'notes.txt');
  fs.writeFileSync(file, 'not a folder');
  const refused = await run([BIN, 'dev-cert', '--out', file], { ...cleanEnv(), PHOTOSYNC_DATA_DIR: dir });
  expect(refused.stderr).not.toContain('Unexpected error');
  expect(refused.stderr).toContain(`${file} is a file, not a folder`);
  expect(refused.code).toBe(1);
  expect(fs.readFileSync(file, 'utf8')).toBe('not a folder');
});

it('--host takes host names and IP addresses only: anything else is a usage error, and nothing is made', async () => {
  const out = path.join(dir, 'hosts');
  for (const host of ['bad host!', '*.*', 'a..b', '-lead.example', '*.com']) {
    const refused = await run([BIN, 'dev-cert', '--out', out, '--host', host], {
      ...cleanEnv(),
      PHOTOSYNC_DATA_DIR: dir,
    });
    expect(refused.code, host).toBe(2);
    expect(refused.stderr).toContain(`--host ${JSON.stringify(host)} is neither a host name nor an IP address`);
  }
  expect(fs.existsSync(out)).toBe(false);
  const made = await run(
    [
      BIN,
      'dev-cert',
      '--out',
      out,
      '--host',
      'photos.contoso.test',
      '--host',
      '*.contoso.test',
      '--host',
      '192.168.1.10',
      '--host',
      'fe80::1',
    ],
    {
      ...cleanEnv(),
      PHOTOSYNC_DATA_DIR: dir,
    },
  );
  expect(made.code, made.stderr).toBe(0);
  expect(made.stdout).toContain('photos.contoso.test, *.contoso.test, 192.168.1.10, fe80::1');
});
