// Which resource a token is for, and the audience it carries. A client written for Microsoft 365
// names Graph (`https://graph.microsoft.com`) or a SharePoint host (`https://contoso-my.sharepoint.com`);
// photosync plays both, so those names map to its own Graph and SharePoint audiences. This server's
// own URL is a third name: it serves both, so a token for it is good on both.

export type Resource = 'graph' | 'sharepoint' | 'self';
/** The two halves of the server a token may be presented to. */
export type Surface = 'graph' | 'sharepoint';

/** Graph's resource URL, the audience of Graph tokens (as in Graph's own tokens). */
export const GRAPH_AUDIENCE = 'https://graph.microsoft.com';
/** SharePoint Online's app id: one audience for every SharePoint host name a client may use. */
export const SHAREPOINT_AUDIENCE = '00000003-0000-0ff1-ce00-000000000000';
const GRAPH_IDS = ['https://graph.microsoft.com', '00000003-0000-0000-c000-000000000000'];

/** The resource a scope's prefix names, or undefined for one this directory does not hold. */
export function resourceFor(id: string, publicUrl: string): Resource | undefined {
  const clean = id.replace(/\/+$/, '').toLowerCase();
  if (GRAPH_IDS.includes(clean)) return 'graph';
  if (clean === SHAREPOINT_AUDIENCE) return 'sharepoint';
  if (clean === publicUrl.toLowerCase()) return 'self';
  let url: URL;
  try {
    url = new URL(clean);
  } catch {
    return undefined;
  }
  const bareHost = url.pathname === '/' && url.search === '' && url.username === '' && url.port === '';
  return url.protocol === 'https:' && bareHost && /^[a-z0-9-]+\.sharepoint\.com$/.test(url.hostname)
    ? 'sharepoint'
    : undefined;
}

export function audienceFor(resource: Resource, publicUrl: string): string {
  switch (resource) {
    case 'graph':
      return GRAPH_AUDIENCE;
    case 'sharepoint':
      return SHAREPOINT_AUDIENCE;
    case 'self':
      return publicUrl;
  }
}

/** What a surface accepts: its own audience, and this server's URL (tokens made before audiences split). */
export function acceptedAudiences(surface: Surface, publicUrl: string): string[] {
  return [surface === 'graph' ? GRAPH_AUDIENCE : SHAREPOINT_AUDIENCE, publicUrl];
}
