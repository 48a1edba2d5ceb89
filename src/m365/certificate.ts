import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';

// The app registration's certificate credential: a PEM with the certificate (and any chain) and
// its private key. Entra identifies the certificate by its SHA-256 thumbprint (`x5t#S256`) and
// MSAL may send the chain along (`x5c`). SharePoint's REST API takes app-only tokens only when
// they were obtained with a certificate, so a client secret is not offered at all.

export interface ClientCertificate {
  /** Upper-case hex SHA-256 of the certificate's DER bytes: what MSAL names it by (`x5t#S256`). */
  thumbprintSha256: string;
  /** Upper-case hex SHA-1 of the same bytes: the Thumbprint the Entra admin center lists. */
  thumbprintSha1: string;
  /** The certificate and any chain after it, PEM, for MSAL's `x5c`. */
  certificatePem: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  /**
   * The private key as PKCS#8 PEM. A function, so that the key never shows in JSON, in
   * `util.inspect` output (logs, error dumps) or in an object spread of the settings.
   */
  privateKeyPem(): string;
}

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const KEY_BLOCK = /-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END \1?PRIVATE KEY-----/;

/** The shortest RSA key a client assertion can be signed with. */
const MIN_RSA_BITS = 2048;

/** Key types as a sentence names them, with their article. */
const KEY_KINDS: Record<string, string> = {
  ec: 'an EC',
  ed25519: 'an Ed25519',
  ed448: 'an Ed448',
  dsa: 'a DSA',
  dh: 'a DH',
  'rsa-pss': 'an RSA-PSS',
};

/** Reads the PEM; a problem is returned as a sentence that names what is wrong, never key material. */
export function readClientCertificate(pem: string, now = new Date()): ClientCertificate | { problem: string } {
  const certificates = pem.match(CERTIFICATE_BLOCK) ?? [];
  const keyBlock = KEY_BLOCK.exec(pem);
  if (certificates.length === 0) return { problem: 'holds no "BEGIN CERTIFICATE" block' };
  if (!keyBlock) return { problem: 'holds no private key ("BEGIN PRIVATE KEY" block) after the certificate' };
  if (keyBlock[1] === 'ENCRYPTED ') {
    return {
      problem:
        'holds an encrypted private key; export it without a password (keep the file readable only by photosync)',
    };
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certificates[0]!);
  } catch {
    return { problem: 'holds a certificate that cannot be read' };
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyBlock[0]);
  } catch {
    return { problem: 'holds a private key that cannot be read' };
  }
  if (key.asymmetricKeyType !== 'rsa') {
    return {
      problem: `holds ${KEY_KINDS[key.asymmetricKeyType ?? ''] ?? 'a non-RSA'} key; Entra ID needs an RSA certificate for app sign-in`,
    };
  }
  // MSAL signs the client assertion with PS256, which its JWT library refuses with a key under
  // 2048 bits: every token would fail, so the key is refused here, where the fix can be named.
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) {
    return {
      problem: `holds a ${bits}-bit RSA key; Entra ID sign-in needs at least ${MIN_RSA_BITS} bits: make a new certificate (openssl req -x509 -newkey rsa:2048 …, as docs/M365.md shows) and register it`,
    };
  }
  if (!leaf.checkPrivateKey(key)) return { problem: 'holds a private key that does not belong to its certificate' };
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now.getTime()) {
    return { problem: `holds a certificate that expired on ${notAfter.toISOString()}; make a new one and register it` };
  }
  const privateKey = key.export({ type: 'pkcs8', format: 'pem' }).toString();
  const certificate: ClientCertificate = {
    thumbprintSha256: leaf.fingerprint256.replace(/:/g, '').toUpperCase(),
    thumbprintSha1: leaf.fingerprint.replace(/:/g, '').toUpperCase(),
    certificatePem: certificates.join('\n'),
    subject: leaf.subject.replace(/\n/g, ', '),
    notBefore,
    notAfter,
    privateKeyPem: () => privateKey,
  };
  Object.defineProperty(certificate, inspect.custom, {
    value: () => `ClientCertificate { thumbprintSha256: '${certificate.thumbprintSha256}' }`,
  });
  return certificate;
}

/**
 * Whether the bytes are a PKCS#12 file (.pfx, .p12), as Windows and Key Vault export a certificate
 * with its key: a DER SEQUENCE whose first element is the version, INTEGER 3 (RFC 7292, PFX).
 */
export function isPkcs12(bytes: Buffer): boolean {
  if (bytes[0] !== 0x30 || bytes.length < 8) return false;
  const first = bytes[1]!;
  const version = first < 0x80 ? 2 : 2 + (first & 0x7f);
  return bytes[version] === 0x02 && bytes[version + 1] === 0x01 && bytes[version + 2] === 0x03;
}

/** What to say of a PKCS#12 file, with the command that makes the PEM photosync reads of it. */
export function pkcs12Problem(file = 'photosync.pfx'): string {
  const pemFile = `${file.replace(/\.(pfx|p12)$/i, '')}.pem`;
  return `is a PKCS#12 (.pfx) file, and photosync reads PEM: convert it with "openssl pkcs12 -in ${file} -nodes -out ${pemFile}" (it asks for the .pfx password), make ${pemFile} readable only by photosync, and set PHOTOSYNC_M365_CERTIFICATE to it`;
}
