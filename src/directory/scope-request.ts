import type { AppRegistration } from './apps.js';
import { entraError } from './entra-errors.js';
import { resourceFor, type Resource } from './resources.js';
import { GRAPH_SCOPES, SITES_DELEGATED_SCOPES, type GraphScope } from './scopes.js';

// The `scope` parameter as Entra reads it: OpenID Connect words, then permissions of ONE resource,
// either bare (Graph's, e.g. `User.Read`) or prefixed (`https://graph.microsoft.com/User.Read`,
// `https://contoso-my.sharepoint.com/.default`). A user's token gets only what the app was
// registered with: photosync has no consent screen, so the registration is the consent.

export const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'] as const;
export type OidcScope = (typeof OIDC_SCOPES)[number];

export interface ScopeRequest {
  resource: Resource;
  /** The resource as the client wrote it ('' for bare names), so the answer speaks its language. */
  prefix: string;
  names: string[];
  wantsDefault: boolean;
  oidc: ReadonlySet<OidcScope>;
}

const invalidScope = (detail: string) =>
  entraError(400, 'invalid_scope', 70011, `The provided value for the input parameter 'scope' is not valid.${detail}`);

export function parseScopeRequest(scope: string, publicUrl: string): ScopeRequest {
  const oidc = new Set<OidcScope>();
  let resource: Resource | undefined;
  let prefix = '';
  const names: string[] = [];
  let wantsDefault = false;
  const words = scope.split(/\s+/).filter((w) => w !== '');
  for (const word of words) {
    const lower = word.toLowerCase();
    if ((OIDC_SCOPES as readonly string[]).includes(lower)) {
      oidc.add(lower as OidcScope);
      continue;
    }
    const slash = word.lastIndexOf('/');
    const named = slash >= 0 ? word.slice(0, slash) : '';
    const name = slash >= 0 ? word.slice(slash + 1) : word;
    const which = named === '' ? 'graph' : resourceFor(named, publicUrl);
    if (!which) {
      throw entraError(
        400,
        'invalid_resource',
        500011,
        `The resource principal named ${named} was not found in the tenant.`,
      );
    }
    if (resource !== undefined && (which !== resource || named.toLowerCase() !== prefix.toLowerCase())) {
      throw entraError(
        400,
        'invalid_scope',
        28000,
        `Provided value for the input parameter scope is not valid because it contains more than one resource. Scope ${scope} is not valid.`,
      );
    }
    resource = which;
    prefix = named;
    if (name === '' || (name === '.default' && named === '')) throw invalidScope(` The scope ${word} is not valid.`);
    if (name === '.default') wantsDefault = true;
    else names.push(name);
  }
  if (words.length === 0) throw invalidScope('');
  return { resource: resource ?? 'graph', prefix, names, wantsDefault, oidc };
}

/**
 * The `scope` of an authorization request, as Entra's v2 /authorize reads it: permissions of
 * several resources at once (MSAL's `extraScopesToConsent` asks for them up front, then gets each
 * resource's token with the refresh token). Each resource's are read as a token request reads
 * them, with the OpenID words; only a token request is limited to one resource. The first named
 * is the one a code redeemed without a `scope` is for.
 */
export function parseAuthorizeScopes(scope: string, publicUrl: string): ScopeRequest[] {
  const words = scope.split(/\s+/).filter((w) => w !== '');
  const oidc = words.filter((w) => (OIDC_SCOPES as readonly string[]).includes(w.toLowerCase()));
  const byResource = new Map<string, string[]>();
  for (const word of words) {
    if (oidc.includes(word)) continue;
    // By the resource named, however it is spelt: one resource spelt two ways is refused as before.
    const slash = word.lastIndexOf('/');
    const named = slash >= 0 ? word.slice(0, slash) : '';
    const key = named === '' ? 'graph' : (resourceFor(named, publicUrl) ?? named.toLowerCase());
    byResource.set(key, [...(byResource.get(key) ?? []), word]);
  }
  if (byResource.size === 0) return [parseScopeRequest(scope, publicUrl)];
  return [...byResource.values()].map((named) => parseScopeRequest([...named, ...oidc].join(' '), publicUrl));
}

/** A token request's resource: its own `scope`, or else the first resource of the grant it redeems. */
export function tokenScopeRequest(requested: string | undefined, granted: string, publicUrl: string): ScopeRequest {
  return requested ? parseScopeRequest(requested, publicUrl) : parseAuthorizeScopes(granted, publicUrl)[0]!;
}

/**
 * The delegated scopes a user's token gets through `app`: the names asked for, each of which the
 * app must be registered with; `.default` = everything it is registered with; OpenID words alone
 * = User.Read when registered (Entra gives a Graph token for sign-in only).
 */
export function grantDelegatedScopes(request: ScopeRequest, app: AppRegistration): GraphScope[] {
  const granted = new Set<GraphScope>();
  for (const name of request.names) {
    const known = GRAPH_SCOPES.find((s) => s.toLowerCase() === name.toLowerCase());
    if (!known) throw invalidScope(` The scope ${request.prefix ? `${request.prefix}/` : ''}${name} is not valid.`);
    if (request.resource === 'graph' && sharePointOnly(known)) {
      throw invalidScope(
        ` The scope ${request.prefix ? `${request.prefix}/` : ''}${name} is not valid: ${known} is SharePoint's; ask for https://<tenant>-my.sharepoint.com/${known}.`,
      );
    }
    if (!app.scopes.includes(known)) {
      throw entraError(
        400,
        'invalid_grant',
        65001,
        `The user or administrator has not consented to use the application with ID '${app.clientId}' named '${app.name}'. Send an interactive authorization request for this user and resource. (photosync: the app is not registered with ${known}; photosync apps add … --scopes)`,
        'consent_required',
      );
    }
    granted.add(known);
  }
  // Graph's .default leaves out SharePoint's own permissions, as Entra's does.
  if (request.wantsDefault) {
    app.scopes.filter((s) => request.resource !== 'graph' || !sharePointOnly(s)).forEach((s) => granted.add(s));
  }
  if (request.names.length === 0 && !request.wantsDefault && app.scopes.includes('User.Read')) granted.add('User.Read');
  return GRAPH_SCOPES.filter((s) => granted.has(s));
}

/** SharePoint's delegated permissions, which a Graph token never carries. */
const sharePointOnly = (scope: GraphScope) => SITES_DELEGATED_SCOPES.includes(scope);

/** The `scope` of a token response: what was granted, in the client's own spelling. */
export function grantedScopeText(request: ScopeRequest, granted: readonly GraphScope[]): string {
  const prefixed = (name: string) => (request.prefix ? `${request.prefix}/${name}` : name);
  const words = granted.map(prefixed);
  if (request.wantsDefault) words.push(prefixed('.default'));
  for (const oidc of ['openid', 'profile', 'email'] as const) if (request.oidc.has(oidc)) words.push(oidc);
  return words.join(' ');
}
