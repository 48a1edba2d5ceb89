import { askForOpenIdConfiguration, metadataRefusal } from './authority.js';
import type { M365Connection } from './connection.js';
import { rasterizeSvg } from '../media/media.js';
import { LIBRARY_PATH } from '../sites/library.js';
import { describeError, tenantError } from './errors.js';
import { exchangePhotoFromResponse, graphError, graphFailure, hasExchangeMailbox } from './graph.js';
import type { TenantUser } from './model.js';
import { odataString, readProfilePicture, sharePointErrorText } from './sharepoint.js';
import { tenantFetch } from './network.js';
import { describeRoute } from './proxy.js';
import { networkProblem } from './token-errors.js';
import type { TenantResource } from './tokens.js';

// `photosync m365 check`: each thing connect mode needs from the tenant, tried for real, with
// the fix in plain words when it fails. Later checks that depend on a failed one are skipped.

export interface CheckResult {
  name: string;
  status: 'ok' | 'failed' | 'skipped';
  /** What was found (ok) or what failed and how to fix it (failed). */
  detail: string;
}

/** Entra refuses a client assertion whose times are off by more than a few minutes. */
const CLOCK_TOLERANCE_MS = 5 * 60_000;

/** A tiny white picture, for trying a write into "User Photos" without touching anyone's. */
const PROBE_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8" fill="#fff"/></svg>';
const PROBE_NAME = 'photosync-write-check.jpg';

export async function runChecks(connection: M365Connection): Promise<CheckResult[]> {
  const { settings, tokens, http } = connection;
  const results: CheckResult[] = [];
  const record = (name: string, status: CheckResult['status'], detail: string) => {
    results.push({ name, status, detail });
    return status === 'ok';
  };
  const attempt = async (name: string, work: () => Promise<string>): Promise<boolean> => {
    try {
      return record(name, 'ok', await work());
    } catch (error) {
      return record(name, 'failed', describeError(error, 600));
    }
  };

  // Not a check of its own: the way out, as the proxy variables make it, so that a failure below
  // is read knowing which proxy the requests took (its password never shown).
  const addresses = [
    settings.authorityHost,
    settings.graphUrl,
    settings.sharePointUrl,
    settings.mySiteUrl,
    settings.adminUrl,
  ];
  record('outbound proxy', 'ok', describeRoute(settings.proxy, addresses));
  await attempt('clock matches Entra ID', () => clockSkew(connection));
  const tokenFor = (resource: TenantResource, label: string) =>
    attempt(`token for ${label}`, async () => {
      await tokens.token(resource);
      // The admin center lists a certificate by its SHA-1 thumbprint: the one to compare there.
      return `app ${settings.clientId}, certificate with thumbprint ${settings.certificate.thumbprintSha1}`;
    });
  const graph = await tokenFor('graph', `Microsoft Graph (${settings.graphUrl})`);
  const mySite = await tokenFor('mysite', `SharePoint (${settings.mySiteUrl})`);
  await tokenFor('admin', `the SharePoint admin site (${settings.adminUrl})`);
  if (mySite) {
    await attempt(`SharePoint answers (${settings.sharePointUrl})`, () => sharePointHome(connection));
  } else {
    record(`SharePoint answers (${settings.sharePointUrl})`, 'skipped', 'needs a SharePoint token');
  }

  let sample: TenantUser | undefined;
  if (graph) {
    await attempt('can list users', async () => {
      const response = await http.request(
        'graph',
        `${settings.graphUrl}/v1.0/users?$select=id,userPrincipalName,provisionedPlans&$top=20`,
      );
      const body = (await response.json().catch(() => null)) as {
        value?: { id: string; userPrincipalName: string; provisionedPlans?: unknown }[];
      } | null;
      if (!response.ok) throw graphFailure('Listing users failed', graphError(response.status, body));
      const users = body?.value ?? [];
      const withMailbox = users.find((u) => hasExchangeMailbox(u.provisionedPlans) !== false) ?? users[0];
      if (withMailbox) {
        sample = {
          id: withMailbox.id,
          upn: withMailbox.userPrincipalName.toLowerCase(),
          displayName: '',
          accountEnabled: true,
          hasMailbox: true,
        };
      }
      return users.length === 0 ? 'the tenant has no users' : `e.g. ${users[0]!.userPrincipalName}`;
    });
  } else {
    record('can list users', 'skipped', 'needs a Graph token');
  }

  if (graph && sample) {
    const user = sample;
    await attempt('can read a photo', async () => {
      const response = await http.request(
        'graph',
        `${settings.graphUrl}/v1.0/users/${encodeURIComponent(user.id)}/photo`,
      );
      const body = await response.json().catch(() => null);
      const photo = exchangePhotoFromResponse({ status: response.status, body });
      if (photo.kind === 'error') {
        throw response.status === 403 || response.status === 401
          ? graphFailure('Reading a photo failed', graphError(response.status, body))
          : tenantError('unexpected', photo.message);
      }
      return `${user.upn}: ${photo.kind === 'photo' ? `photo ${photo.etag}` : photo.kind === 'none' ? 'no photo' : 'no mailbox'}`;
    });
  } else {
    record('can read a photo', 'skipped', graph ? 'needs a user to read' : 'needs a Graph token');
  }

  if (mySite && sample) {
    const user = sample;
    await attempt('can read a profile', async () => {
      const profile = await readProfilePicture(http, settings, user.upn);
      if (profile.kind === 'error') throw tenantError('permission', profile.message);
      return profile.kind === 'none'
        ? `${user.upn} has no profile yet (readable)`
        : `${user.upn}: placeholder state ${profile.placeholderState ?? 'unset'}`;
    });
  } else {
    record('can read a profile', 'skipped', mySite ? 'needs a user to read' : 'needs a SharePoint token');
  }

  if (mySite) {
    await attempt('can write to User Photos', () => writeProbe(connection));
  } else {
    record('can write to User Photos', 'skipped', 'needs a SharePoint token');
  }
  // Profile writes (the admin site) are not tried: that would change someone's profile. The admin
  // token above is what can be checked without; the first push shows the rest.
  return results;
}

/** Compares this machine's clock with the Date of Entra's metadata answer. */
async function clockSkew(connection: M365Connection): Promise<string> {
  const { settings, clock } = connection;
  const response = await askForOpenIdConfiguration(settings);
  const refused = await metadataRefusal(response, settings);
  if (refused) throw refused;
  await response.body?.cancel();
  const date = Date.parse(response.headers.get('date') ?? '');
  if (Number.isNaN(date)) return 'the sign-in service sent no time to compare with';
  const skew = clock.now() - date;
  const minutes = Math.round(Math.abs(skew) / 60_000);
  if (Math.abs(skew) > CLOCK_TOLERANCE_MS) {
    throw tenantError(
      'clock',
      `This machine’s clock is ${minutes} minutes ${skew > 0 ? 'ahead of' : 'behind'} Entra ID’s.`,
      'Entra ID refuses signed requests from a clock that far off: set the time by NTP.',
    );
  }
  return `within ${Math.max(1, Math.round(Math.abs(skew) / 1000))} s`;
}

/**
 * The SharePoint URL the portal's SharePoint tile sends people to: asked for its context
 * (POST /_api/contextinfo, with the SharePoint token, whose audience is every SharePoint host of
 * the tenant), it must answer as itself. Another tenant's host refuses the token; a host of this
 * tenant under another name answers with its own address.
 */
async function sharePointHome(connection: M365Connection): Promise<string> {
  const { settings, tokens } = connection;
  const setting = 'PHOTOSYNC_M365_SHAREPOINT_URL';
  const home = settings.sharePointUrl;
  let response: Response;
  try {
    response = await tenantFetch(settings, `${home}/_api/contextinfo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await tokens.token('mysite')}`, accept: 'application/json;odata=nometadata' },
    });
  } catch (error) {
    const network = networkProblem(error);
    throw tenantError(
      network?.problem ?? 'unreachable',
      `${home} cannot be reached: ${network?.what ?? describeError(error)}.`,
      network?.proxy
        ? network.fix(home, setting)
        : network?.problem === 'unreachable' && /certificate/.test(network.what)
          ? `Check ${setting}; if it is right, ${network.fix(home, setting).replace(/^T/, 't')}`
          : `Check ${setting} (${home}): it is the tenant's SharePoint root site, like https://contoso.sharepoint.com.`,
    );
  }
  const body = (await response.json().catch(() => null)) as { WebFullUrl?: unknown } | null;
  if (!response.ok) {
    throw tenantError(
      response.status === 401 || response.status === 403 ? 'wrong_url' : 'unexpected',
      `${home} answered ${response.status}${response.status === 401 || response.status === 403 ? ' to this tenant’s SharePoint token' : ''}.`,
      `Check ${setting} (${home}): it is this tenant's SharePoint root site, like https://contoso.sharepoint.com.`,
    );
  }
  const answered = typeof body?.WebFullUrl === 'string' ? body.WebFullUrl : '';
  const origin = URL.canParse(answered) ? new URL(answered).origin : undefined;
  if (!origin) throw tenantError('unexpected', `${home}/_api/contextinfo answered without the site's address.`);
  if (origin.toLowerCase() !== new URL(home).origin.toLowerCase()) {
    throw tenantError(
      'wrong_url',
      `${home} answers as ${origin}.`,
      `Set ${setting} to ${origin}: the SharePoint tile sends people there.`,
    );
  }
  return `the root site ${origin}`;
}

/** Writes a 1×1 JPEG into "User Photos/Profile Pictures" and moves it to the recycle bin again. */
async function writeProbe(connection: M365Connection): Promise<string> {
  const { http, settings } = connection;
  const folder = odataString(LIBRARY_PATH);
  const add = await http.request(
    'mysite',
    `${settings.mySiteUrl}/_api/web/GetFolderByServerRelativeUrl(${folder})/Files/add(url=${odataString(PROBE_NAME)},overwrite=true)`,
    {
      method: 'POST',
      headers: { accept: 'application/json;odata=nometadata', 'content-type': 'image/jpeg' },
      body: new Uint8Array(await rasterizeSvg(PROBE_SVG, 8)),
    },
  );
  if (!add.ok) {
    const text = await sharePointErrorText(add);
    if (add.status === 401 || add.status === 403) {
      throw tenantError(
        'permission',
        `SharePoint refused the write (${add.status}${text ? `: ${text}` : ''}).`,
        'Grant the app the SharePoint application permission Sites.FullControl.All, with admin consent.',
      );
    }
    throw tenantError(
      add.status === 404 ? 'wrong_url' : 'unexpected',
      `Writing into ${LIBRARY_PATH} failed (${add.status}${text ? `: ${text}` : ''}).`,
      'Check PHOTOSYNC_M365_MYSITE_URL.',
    );
  }
  await add.body?.cancel();
  const path = odataString(`${LIBRARY_PATH}/${PROBE_NAME}`);
  const recycle = await http.request(
    'mysite',
    `${settings.mySiteUrl}/_api/web/GetFileByServerRelativeUrl(${path})/recycle()`,
    {
      method: 'POST',
      headers: { accept: 'application/json;odata=nometadata' },
    },
  );
  await recycle.body?.cancel();
  return recycle.ok
    ? `wrote ${PROBE_NAME} and moved it to the recycle bin`
    : `wrote ${PROBE_NAME} (delete it by hand: the recycle bin refused it, ${recycle.status})`;
}

/** Whether every check passed. */
export function allPassed(results: readonly CheckResult[]): boolean {
  return results.every((r) => r.status === 'ok');
}
