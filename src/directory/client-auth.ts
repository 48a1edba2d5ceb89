import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import type { Db } from '../storage/database.js';
import { certificateForAssertion, thumbprintForMessage } from './app-certificates.js';
import { appForCredentials, findApp, type AppRegistration } from './apps.js';
import type { EntraError } from './entra-errors.js';
import { entraError } from './entra-errors.js';
import { tenantId } from './settings.js';
import type { ClientAuthMethod } from './tokens.js';

// How a client proves itself at the token endpoint, as Entra takes it: a secret (form or HTTP
// Basic), a client assertion (a JWT signed with a registered certificate's key, RS256 or PS256,
// naming the certificate by `x5t#S256` or `x5t`), or nothing (a public client).

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Clock skew allowed on an assertion's times, as Entra allows. */
const SKEW_SECONDS = 300;

export interface ClientCredentials {
  clientId: string | undefined;
  clientSecret: string | undefined;
  assertionType: string | undefined;
  assertion: string | undefined;
}

export interface AuthenticatedClient {
  app: AppRegistration;
  method: ClientAuthMethod;
}

export interface ClientAuthDeps {
  db: Db;
  publicUrl: string;
  /** The tenant segment the request came in on: an assertion's audience names it. */
  tenantSegment: string;
}

/**
 * The app behind the request's credentials. `missing` is the error for a request with none when
 * the grant needs them (client credentials, or a confidential client's code); without it a public
 * client only has to be registered.
 */
export async function authenticateClient(
  deps: ClientAuthDeps,
  credentials: ClientCredentials,
  missing: EntraError | undefined,
): Promise<AuthenticatedClient> {
  const { clientSecret, assertion, assertionType } = credentials;
  if (clientSecret !== undefined && assertion !== undefined) {
    throw entraError(
      400,
      'invalid_request',
      9002313,
      'Invalid request. Send client_secret or client_assertion, not both.',
    );
  }
  if (assertion !== undefined || assertionType !== undefined) return assertedClient(deps, credentials);
  if (!credentials.clientId) {
    throw entraError(
      400,
      'invalid_request',
      900144,
      "The request body must contain the following parameter: 'client_id'.",
    );
  }
  if (clientSecret !== undefined && clientSecret !== '') {
    const app = await appForCredentials(deps.db, credentials.clientId, clientSecret);
    if (!app) {
      // Entra names a client id it has no app for before it looks at the secret.
      await registeredApp(deps, credentials.clientId);
      throw entraError(
        401,
        'invalid_client',
        7000215,
        'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app ' +
          `'${credentials.clientId}'.`,
      );
    }
    return { app, method: 'secret' };
  }
  if (missing) throw missing;
  return { app: await registeredApp(deps, credentials.clientId), method: 'none' };
}

async function registeredApp(deps: ClientAuthDeps, clientId: string): Promise<AppRegistration> {
  const app = await findApp(deps.db, clientId);
  if (!app) {
    throw entraError(
      400,
      'unauthorized_client',
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${deps.tenantSegment}'. This can happen if the application has not been registered (photosync apps add).`,
    );
  }
  return app;
}

async function assertedClient(deps: ClientAuthDeps, credentials: ClientCredentials): Promise<AuthenticatedClient> {
  if (credentials.assertionType !== JWT_BEARER_ASSERTION || !credentials.assertion) {
    throw entraError(
      400,
      'invalid_request',
      900144,
      `The request body must contain the following parameters: 'client_assertion' and 'client_assertion_type' = '${JWT_BEARER_ASSERTION}'.`,
    );
  }
  const assertion = credentials.assertion;
  let header: ReturnType<typeof decodeProtectedHeader>;
  let claims: ReturnType<typeof decodeJwt>;
  try {
    header = decodeProtectedHeader(assertion);
    claims = decodeJwt(assertion);
  } catch {
    throw entraError(401, 'invalid_client', 50027, 'JWT token is invalid or malformed.');
  }
  const clientId = credentials.clientId ?? (typeof claims.iss === 'string' ? claims.iss : '');
  if (claims.iss !== clientId || claims.sub !== clientId) {
    throw entraError(
      401,
      'invalid_client',
      700021,
      "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
    );
  }
  const app = await registeredApp(deps, clientId);
  const certificate = await certificateForAssertion(deps.db, clientId, header);
  if (!certificate) {
    throw entraError(
      401,
      'invalid_client',
      700027,
      `Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '${thumbprintForMessage(header)}', Please check the certificates registered for app Id '${clientId}' (photosync apps list).]`,
    );
  }
  if (certificate.notAfter <= Date.now()) {
    throw entraError(
      401,
      'invalid_client',
      700027,
      'Client assertion contains an invalid signature. [Reason - The key used is expired.]',
    );
  }
  try {
    await jwtVerify(assertion, certificate.publicKey, {
      algorithms: ['RS256', 'PS256'],
      requiredClaims: ['exp', 'aud'],
      clockTolerance: SKEW_SECONDS,
    });
  } catch (error) {
    if (
      error instanceof joseErrors.JWTExpired ||
      (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'nbf')
    ) {
      throw entraError(
        401,
        'invalid_client',
        700024,
        `Client assertion is not within its valid time range. Current time: ${new Date().toISOString()}.`,
      );
    }
    throw entraError(
      401,
      'invalid_client',
      700027,
      'Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value.]',
    );
  }
  const audiences = await assertionAudiences(deps);
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.some((a) => typeof a === 'string' && audiences.has(a.toLowerCase()))) {
    throw entraError(
      401,
      'invalid_client',
      700023,
      `Client assertion audience claim does not match Realm issuer. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials . (photosync takes ${deps.publicUrl}/${deps.tenantSegment}/oauth2/v2.0/token.)`,
    );
  }
  return { app, method: 'certificate' };
}

/** The token endpoint the client posted to (by the tenant segment it used or the tenant id), or the issuer. */
async function assertionAudiences(deps: ClientAuthDeps): Promise<Set<string>> {
  const tenant = await tenantId(deps.db);
  const base = deps.publicUrl.toLowerCase();
  return new Set(
    [
      ...[deps.tenantSegment, tenant].flatMap((t) => [`${base}/${t}/oauth2/v2.0/token`, `${base}/${t}/oauth2/token`]),
      `${base}/${tenant}/v2.0`,
    ].map((a) => a.toLowerCase()),
  );
}
