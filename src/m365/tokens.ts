import type { ConfidentialClientApplication } from '@azure/msal-node';
import type { Logger } from 'pino';
import { lazy } from '../lazy.js';
import { scrub } from './errors.js';
import type { M365Settings } from './settings.js';
import { explainTokenFailure } from './authority.js';
import { msalNetworkClient } from './network.js';
import { explainTokenError } from './token-errors.js';

// App-only tokens for the tenant through MSAL Node, with the app's certificate: MSAL signs a
// client assertion (x5t#S256 + x5c) and keeps each token in its cache until five minutes before
// it expires, then asks Entra for a new one. `knownAuthorities` names the configured sign-in host,
// so MSAL reads its OpenID metadata straight from it (a sovereign cloud, or photosync playing the
// tenant in tests) instead of asking Microsoft's instance discovery first. MSAL's requests go
// through connect mode's own network module, so HTTPS_PROXY and NO_PROXY hold for them as for the rest.
//
// MSAL is loaded when connect mode first needs it, not when the program starts: every server and
// command starts about a tenth of a second sooner without it, and most never connect to a tenant.

/** MSAL Node, loaded once, on first use. */
export const loadMsal = lazy(() => import('@azure/msal-node'));

/** The three audiences connect mode calls: Graph, the My Site host (files, profiles) and the admin site. */
export type TenantResource = 'graph' | 'mysite' | 'admin';

export interface TokenSource {
  /**
   * A bearer token for the resource; a TenantError naming the fix when there is none. `fresh`:
   * not the one kept, which the tenant just refused (an app removed, a certificate revoked).
   */
  token(resource: TenantResource, fresh?: boolean): Promise<string>;
}

/** The resource form of the scope: `https://graph.microsoft.com/.default`, `https://contoso-my.sharepoint.com/.default`. */
export function resourceScope(settings: M365Settings, resource: TenantResource): string {
  const origin = { graph: settings.graphUrl, mysite: settings.mySiteUrl, admin: settings.adminUrl }[resource];
  return `${origin}/.default`;
}

/**
 * The app as MSAL knows it: a confidential client proving itself with the certificate, trusting
 * exactly the configured sign-in host. App-only tokens and the portal's sign-in both use it.
 */
export async function createTenantClient(settings: M365Settings, log: Logger): Promise<ConfidentialClientApplication> {
  const { ConfidentialClientApplication, LogLevel } = await loadMsal();
  const authorityHost = new URL(settings.authorityHost);
  return new ConfidentialClientApplication({
    auth: {
      clientId: settings.clientId,
      authority: `${authorityHost.origin}/${settings.tenant}`,
      knownAuthorities: [authorityHost.host],
      clientCertificate: {
        thumbprintSha256: settings.certificate.thumbprintSha256,
        privateKey: settings.certificate.privateKeyPem(),
        x5c: settings.certificate.certificatePem,
      },
    },
    system: {
      // Its requests take the tenant's dispatcher, through the proxy that applies (m365/network.ts).
      networkClient: await msalNetworkClient(settings),
      loggerOptions: {
        piiLoggingEnabled: false,
        logLevel: LogLevel.Error,
        loggerCallback: (level, message) => {
          if (level <= LogLevel.Error) log.error({ msal: true }, scrub(message));
        },
      },
    },
  });
}

export function createTokenSource(settings: M365Settings, log: Logger): TokenSource {
  const app = lazy(() => createTenantClient(settings, log));
  // Concurrent first requests for one resource share one token request.
  const inFlight = new Map<TenantResource, Promise<string>>();
  return {
    token(resource, fresh = false) {
      const pending = inFlight.get(resource);
      if (pending && !fresh) return pending;
      const scope = resourceScope(settings, resource);
      const request = app()
        .then((client) => client.acquireTokenByClientCredential({ scopes: [scope], skipCache: fresh }))
        .then(
          (result) => {
            if (!result?.accessToken)
              throw explainTokenError(new Error('Entra ID answered without a token.'), settings, scope);
            return result.accessToken;
          },
          async (error: unknown) => {
            throw await explainTokenFailure(error, settings, scope);
          },
        )
        .finally(() => inFlight.delete(resource));
      inFlight.set(resource, request);
      return request;
    },
  };
}
