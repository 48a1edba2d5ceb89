import { X509Certificate, createHash, type KeyObject } from 'node:crypto';
import { invalidInput } from '../errors.js';
import type { Db } from '../storage/database.js';

// Certificates an app proves itself with: the client signs a short JWT (the client assertion)
// with the certificate's private key and names the certificate by its thumbprint in the header,
// `x5t#S256` (SHA-256, what MSAL sends today) or `x5t` (SHA-1, older clients), both base64url of
// the hash of the DER certificate, as Entra's app registrations keep them.

export interface AppCertificate {
  pem: string;
  thumbprintSha1: string;
  thumbprintSha256: string;
  notAfter: number;
}

const thumbprint = (der: Buffer, hash: 'sha1' | 'sha256') => createHash(hash).update(der).digest('base64url');

/** Reads one PEM certificate with an RSA key that has not expired; a 400 that says what is wrong otherwise. */
export function parseCertificate(pem: string): AppCertificate {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length !== 1) {
    throw invalidInput(
      blocks.length === 0
        ? 'That is not a PEM certificate (-----BEGIN CERTIFICATE-----). Give the public certificate, never the private key.'
        : 'Give one certificate per --certificate, not a chain.',
    );
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(blocks[0]!);
  } catch (error) {
    throw invalidInput(`The certificate cannot be read: ${(error as Error).message}.`);
  }
  if (certificate.publicKey.asymmetricKeyType !== 'rsa') {
    throw invalidInput('The certificate must have an RSA key (Entra signs client assertions with RS256 or PS256).');
  }
  const notAfter = Date.parse(certificate.validTo);
  if (!(notAfter > Date.now())) throw invalidInput(`The certificate expired on ${certificate.validTo}.`);
  return {
    pem: certificate.toString(),
    thumbprintSha1: thumbprint(certificate.raw, 'sha1'),
    thumbprintSha256: thumbprint(certificate.raw, 'sha256'),
    notAfter,
  };
}

/** The registered certificate a client assertion's header names, with its public key. */
export async function certificateForAssertion(
  db: Db,
  clientId: string,
  header: { x5t?: unknown; 'x5t#S256'?: unknown },
): Promise<{ publicKey: KeyObject; notAfter: number } | undefined> {
  const sha256 = typeof header['x5t#S256'] === 'string' ? header['x5t#S256'] : undefined;
  const sha1 = typeof header.x5t === 'string' ? header.x5t : undefined;
  if (sha256 === undefined && sha1 === undefined) return undefined;
  // PostgreSQL refuses a NUL in any text value rather than finding nothing.
  if ([clientId, sha256, sha1].some((v) => v?.includes('\u0000'))) return undefined;
  let query = db
    .selectFrom('directory_app_certificates')
    .select(['certificate', 'not_after'])
    .where('client_id', '=', clientId);
  query =
    sha256 !== undefined ? query.where('thumbprint_sha256', '=', sha256) : query.where('thumbprint_sha1', '=', sha1!);
  const row = await query.executeTakeFirst();
  return row && { publicKey: new X509Certificate(row.certificate).publicKey, notAfter: row.not_after };
}

/** The thumbprint a client named, in the upper-case hex Entra's messages show. */
export function thumbprintForMessage(header: { x5t?: unknown; 'x5t#S256'?: unknown }): string {
  const value = header['x5t#S256'] ?? header.x5t;
  return typeof value === 'string' ? Buffer.from(value, 'base64url').toString('hex').toUpperCase() : '';
}
