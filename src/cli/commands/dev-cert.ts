import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import forge from 'node-forge';
import type { CommandHandler } from '../command.js';
import { CliError, UsageError } from '../output.js';

// `photosync dev-cert`: a local certificate authority and a certificate for this machine, so that
// photosync serves https (PHOTOSYNC_TLS_CERT/KEY) and Node.js clients trust it through
// NODE_EXTRA_CA_CERTS, as MSAL and the Graph SDK require https. node:crypto makes the keys;
// node-forge writes the X.509 structures, which node:crypto cannot. The CA is kept and reused,
// so renewing the server certificate does not ask anyone to trust a new CA.

const DAY_MS = 24 * 60 * 60 * 1000;
/** The longest server certificate browsers accept. */
const SERVER_DAYS = 397;
const CA_DAYS = 10 * 365;
const LOCAL_NAMES = ['localhost', '127.0.0.1', '::1'];

export interface KeyAndCertificate {
  certificate: string;
  privateKey: string;
}

function newKey(): { forgeKey: forge.pki.rsa.PrivateKey; pem: string; publicKey: forge.pki.rsa.PublicKey } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  return { forgeKey, pem, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e) };
}

function newCertificate(publicKey: forge.pki.rsa.PublicKey, days: number): forge.pki.Certificate {
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = publicKey;
  // A positive 128-bit serial (the high bit clear).
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  certificate.serialNumber = serial.toString('hex');
  const now = Date.now();
  certificate.validity.notBefore = new Date(now - 5 * 60_000);
  certificate.validity.notAfter = new Date(now + days * DAY_MS);
  return certificate;
}

const pemOf = (certificate: forge.pki.Certificate) => forge.pki.certificateToPem(certificate);

/** A self-signed certificate and its key, e.g. for an app's client assertions (`apps add --certificate`). */
export function selfSignedCertificate(commonName: string, days = 365): KeyAndCertificate {
  const key = newKey();
  const certificate = newCertificate(key.publicKey, days);
  const subject = [{ name: 'commonName', value: commonName }];
  certificate.setSubject(subject);
  certificate.setIssuer(subject);
  certificate.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', critical: true, digitalSignature: true },
  ]);
  certificate.sign(key.forgeKey, forge.md.sha256.create());
  return { certificate: pemOf(certificate), privateKey: key.pem };
}

function makeCa(): KeyAndCertificate {
  const key = newKey();
  const certificate = newCertificate(key.publicKey, CA_DAYS);
  const subject = [
    { name: 'commonName', value: `photosync local CA ${randomBytes(4).toString('hex')}` },
    { name: 'organizationName', value: 'photosync development' },
  ];
  certificate.setSubject(subject);
  certificate.setIssuer(subject);
  certificate.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true, pathLenConstraint: 0 },
    { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  certificate.sign(key.forgeKey, forge.md.sha256.create());
  return { certificate: pemOf(certificate), privateKey: key.pem };
}

function makeServerCertificate(ca: KeyAndCertificate, names: readonly string[]): KeyAndCertificate {
  const caCertificate = forge.pki.certificateFromPem(ca.certificate);
  const caKey = forge.pki.privateKeyFromPem(ca.privateKey);
  const key = newKey();
  const certificate = newCertificate(key.publicKey, SERVER_DAYS);
  certificate.setSubject([{ name: 'commonName', value: names[0] ?? 'localhost' }]);
  certificate.setIssuer(caCertificate.subject.attributes);
  const isIp = (name: string) => /^[\d.]+$/.test(name) || name.includes(':');
  certificate.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: names.map((name) => (isIp(name) ? { type: 7, ip: name } : { type: 2, value: name })),
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCertificate.generateSubjectKeyIdentifier().getBytes() },
  ]);
  certificate.sign(caKey, forge.md.sha256.create());
  return { certificate: pemOf(certificate), privateKey: key.pem };
}

export interface DevCertificateFiles {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
  names: string[];
  notAfter: Date;
  caCreated: boolean;
}

/** Writes (or renews) the server certificate in `dir`, making the CA only when there is none. */
export function createDevCertificates(dir: string, extraNames: readonly string[] = []): DevCertificateFiles {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = {
    caCert: path.join(dir, 'ca.pem'),
    caKey: path.join(dir, 'ca-key.pem'),
    cert: path.join(dir, 'localhost.pem'),
    key: path.join(dir, 'localhost-key.pem'),
  };
  const caCreated = !(fs.existsSync(files.caCert) && fs.existsSync(files.caKey));
  const ca = caCreated
    ? makeCa()
    : { certificate: fs.readFileSync(files.caCert, 'utf8'), privateKey: fs.readFileSync(files.caKey, 'utf8') };
  const names = [
    ...new Set([...LOCAL_NAMES, ...extraNames.map((n) => n.trim().toLowerCase()).filter((n) => n !== '')]),
  ];
  const server = makeServerCertificate(ca, names);
  const write = (file: string, text: string, mode: number) => {
    fs.writeFileSync(`${file}.tmp`, text, { mode });
    fs.renameSync(`${file}.tmp`, file);
  };
  if (caCreated) {
    write(files.caKey, ca.privateKey, 0o600);
    write(files.caCert, ca.certificate, 0o644);
  }
  write(files.key, server.privateKey, 0o600);
  write(files.cert, server.certificate, 0o644);
  const notAfter = forge.pki.certificateFromPem(server.certificate).validity.notAfter;
  return { ...files, names, notAfter, caCreated };
}

/** What `photosync dev-cert` prints: the files, the two settings and the line that makes Node.js trust the CA. */
export function devCertCommand(dir: string, extraNames: readonly string[]): string {
  const made = createDevCertificates(path.resolve(dir), extraNames);
  return [
    made.caCreated
      ? `Made a local certificate authority: ${made.caCert}`
      : `Kept the local certificate authority: ${made.caCert}`,
    `Made a certificate for ${made.names.join(', ')}, valid until ${made.notAfter.toISOString().slice(0, 10)}.`,
    '',
    'Serve https with:',
    `  PHOTOSYNC_TLS_CERT=${made.cert}`,
    `  PHOTOSYNC_TLS_KEY=${made.key}`,
    '',
    'Trust it in Node.js clients (MSAL, the Graph SDK, PnPjs):',
    `  export NODE_EXTRA_CA_CERTS=${made.caCert}`,
    '',
    `Keep ${made.caKey} private: it can sign certificates for any name.`,
  ].join('\n');
}

/**
 * A name a certificate can be for: an IP address, or a DNS name of letters, digits and hyphens
 * (labels of 1 to 63, not starting or ending with a hyphen), its first label `*` at most.
 */
export function isCertificateName(name: string): boolean {
  if (isIP(name) !== 0) return true;
  if (name.length > 253) return false;
  const labels = name.split('.');
  return labels.every(
    (label, index) =>
      (index === 0 && label === '*' && labels.length > 2) || /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(label),
  );
}

export const devCert: CommandHandler = async ({ config, io, option, options, print }) => {
  const out = path.resolve(io.cwd, option('out') ?? path.join(config.dataDir, 'tls'));
  const hosts = options('host');
  const wrong = hosts.find((host) => !isCertificateName(host));
  if (wrong !== undefined) {
    throw new UsageError(
      `--host ${JSON.stringify(wrong)} is neither a host name nor an IP address (e.g. photosync.test, 192.168.1.10).`,
    );
  }
  try {
    print(devCertCommand(out, hosts));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST' || code === 'ENOTDIR')
      throw new CliError(`${out} is a file, not a folder; name a folder with --out.`);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw new CliError(
        `Cannot write the certificates in ${out}: ${code === 'EROFS' ? 'read-only' : 'permission denied'}.`,
      );
    }
    throw error;
  }
};
