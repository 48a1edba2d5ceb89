import { invalidInput } from '../errors.js';

// Microsoft Graph's names for what a token may do with users and their photos.
//  - User.Read: your own user resource and photo, read only.
//  - User.ReadWrite: your own user resource and photo, read and write (Graph's photo writes
//    need it, or ProfilePhoto.ReadWrite.All).
//  - User.ReadBasic.All, User.Read.All: anyone's user resource and photo, read only.
//  - ProfilePhoto.Read.All: anyone's photo and basic user resource, read only.
//  - ProfilePhoto.ReadWrite.All: anyone's photo, read and write (for a user's own token, only
//    when the user is an administrator, like Graph's admin roles).
// And SharePoint's permissions, registered the same way but honoured only by the sites (Graph
// gives them nothing):
//  - Sites.FullControl.All (application): an app reads and writes every site, profiles and
//    "User Photos" included (what connect mode asks for).
//  - AllSites.Read, AllSites.Write, AllSites.Manage, AllSites.FullControl (delegated, what apps
//    built with PnPjs ask SharePoint for): the signed-in user sees the organisation's people in
//    the sites, their pictures and profiles; Write and above also change their own picture there.

export const GRAPH_SCOPES = [
  'User.Read',
  'User.ReadWrite',
  'User.ReadBasic.All',
  'User.Read.All',
  'ProfilePhoto.Read.All',
  'ProfilePhoto.ReadWrite.All',
  'Sites.FullControl.All',
  'AllSites.Read',
  'AllSites.Write',
  'AllSites.Manage',
  'AllSites.FullControl',
] as const;
export type GraphScope = (typeof GRAPH_SCOPES)[number];

/** Sessions and tokens made without naming scopes act as the user in the apps: own photo, read others'. */
export const DEFAULT_DELEGATED_SCOPES: readonly GraphScope[] = ['User.Read', 'User.ReadWrite', 'ProfilePhoto.Read.All'];

/** The scopes that read anyone's user resource and photo. */
export const READ_ANYONE_SCOPES: readonly GraphScope[] = [
  'User.ReadBasic.All',
  'User.Read.All',
  'ProfilePhoto.Read.All',
  'ProfilePhoto.ReadWrite.All',
];

/** SharePoint's delegated permissions: any of them shows a user the organisation's people in the sites. */
export const SITES_DELEGATED_SCOPES: readonly GraphScope[] = [
  'AllSites.Read',
  'AllSites.Write',
  'AllSites.Manage',
  'AllSites.FullControl',
];

/** Those of them that also change the user's own picture in the sites. */
export const SITES_WRITE_OWN_SCOPES: readonly GraphScope[] = [
  'AllSites.Write',
  'AllSites.Manage',
  'AllSites.FullControl',
];

/** Parses "User.Read ProfilePhoto.Read.All" (spaces or commas, any case); throws a 400 naming an unknown one. */
export function parseScopes(text: string): GraphScope[] {
  const words = text.split(/[\s,]+/).filter((w) => w !== '');
  if (words.length === 0) throw invalidInput(`Name at least one scope: ${GRAPH_SCOPES.join(', ')}.`, 'invalid_scope');
  const scopes = new Set<GraphScope>();
  for (const word of words) {
    const scope = GRAPH_SCOPES.find((s) => s.toLowerCase() === word.toLowerCase());
    if (!scope) {
      throw invalidInput(`"${word}" is not a scope photosync knows; use ${GRAPH_SCOPES.join(', ')}.`, 'invalid_scope');
    }
    scopes.add(scope);
  }
  return GRAPH_SCOPES.filter((s) => scopes.has(s));
}

/** Reads a stored, space-separated list; unknown words (from a newer version) are ignored. */
export function storedScopes(text: string | null, fallback: readonly GraphScope[]): GraphScope[] {
  if (text === null) return [...fallback];
  const words = new Set(text.split(' '));
  return GRAPH_SCOPES.filter((s) => words.has(s));
}
