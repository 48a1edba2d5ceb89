import { describeError, isTenantError, tenantError, type TenantError } from './errors.js';
import { tenantFetch } from './network.js';
import type { M365Settings } from './settings.js';
import { explainTokenError, metadataUnread, networkProblem } from './token-errors.js';

// The sign-in host's OpenID metadata for the tenant, asked for directly: `m365 check` reads the
// host's clock from it, and a token request that MSAL could not begin (MSAL names no cause when
// the metadata cannot be read) is told by it whether anything answers at that host at all.

/** How long the sign-in host has to answer before it counts as not answering. */
const ANSWER_WITHIN_MS = 10_000;

export function openIdConfigurationUrl(settings: M365Settings): string {
  return `${settings.authorityHost}/${encodeURIComponent(settings.tenant)}/v2.0/.well-known/openid-configuration`;
}

/**
 * The sign-in host's answer for the tenant's metadata, whatever its status; a TenantError when
 * nothing answers (refused, timed out, a name that does not resolve, an untrusted certificate).
 */
export async function askForOpenIdConfiguration(settings: M365Settings): Promise<Response> {
  try {
    return await tenantFetch(settings, openIdConfigurationUrl(settings), {
      signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
    });
  } catch (error) {
    const network = networkProblem(error);
    throw network
      ? tenantError(
          network.problem,
          `${settings.authorityHost}: ${network.what}.`,
          network.fix(settings.authorityHost, 'PHOTOSYNC_M365_AUTHORITY_HOST'),
        )
      : tenantError(
          'unreachable',
          `${settings.authorityHost} cannot be reached: ${describeError(error)}.`,
          'Check PHOTOSYNC_M365_AUTHORITY_HOST.',
        );
  }
}

/**
 * MSAL's error for a token request, as explainTokenError tells it; when MSAL could not read the
 * tenant's metadata, the host is asked again, so that a host where nothing answers is said to be
 * unreachable (the tenant is down or out of reach, the settings may be right) and only a host that
 * answers with something else is said to be the wrong one.
 */
export async function explainTokenFailure(
  error: unknown,
  settings: M365Settings,
  resource: string,
): Promise<TenantError> {
  const explained = explainTokenError(error, settings, resource);
  if (!metadataUnread(error)) return explained;
  let answer: Response;
  try {
    answer = await askForOpenIdConfiguration(settings);
  } catch (unanswered) {
    if (!isTenantError(unanswered)) throw unanswered;
    return tenantError(unanswered.problem, `No token for ${resource}: ${unanswered.what}`, unanswered.fix);
  }
  const refused = await metadataRefusal(answer, settings);
  if (refused) return tenantError(refused.problem, `No token for ${resource}: ${refused.what}`, refused.fix);
  await answer.body?.cancel();
  const what = `${explained.what.replace(/\.$/, '')} (the host answers ${answer.status}).`;
  return tenantError(explained.problem, what, explained.fix);
}

/** Entra's codes for a tenant segment that names no tenant: not found, not a tenant identifier. */
const UNKNOWN_TENANT_CODES = [90002, 900023];

/**
 * What a 400 or 404 for the tenant's metadata says, its body read: Entra ID answers a tenant it
 * does not know with a JSON error naming AADSTS90002 (or 900023), so only that blames the tenant;
 * an answer without it comes from a host that is not Entra's sign-in host at all. Undefined for
 * other answers, whose body is left unread.
 */
export async function metadataRefusal(response: Response, settings: M365Settings): Promise<TenantError | undefined> {
  if (response.status !== 400 && response.status !== 404) return undefined;
  const body = (await response.json().catch(() => undefined)) as
    { error_codes?: unknown; error_description?: unknown } | undefined;
  const codes = Array.isArray(body?.error_codes) ? body.error_codes : [];
  const description = typeof body?.error_description === 'string' ? body.error_description : '';
  const code = UNKNOWN_TENANT_CODES.find(
    (known) => codes.includes(known) || new RegExp(`AADSTS${known}\\b`).test(description),
  );
  if (code !== undefined) {
    return tenantError(
      'tenant',
      `${settings.authorityHost} knows no tenant "${settings.tenant}" (${response.status}, AADSTS${code}).`,
      'Check PHOTOSYNC_M365_TENANT (the tenant id or its onmicrosoft.com domain).',
    );
  }
  // Entra's answer for some other reason: said as it is, blaming neither setting.
  if (codes.length > 0 || /AADSTS\d+/.test(description)) {
    return tenantError(
      'unexpected',
      `${settings.authorityHost} refused the tenant's OpenID metadata (${response.status}): ${describeError(description || codes.join(', '))}`,
    );
  }
  return tenantError(
    'wrong_url',
    `${settings.authorityHost} answered ${response.status} for the tenant's OpenID metadata, not as Entra ID answers (no AADSTS error): it is not a Microsoft sign-in host.`,
    `Check PHOTOSYNC_M365_AUTHORITY_HOST (https://login.microsoftonline.com, unless the tenant is in a national cloud).`,
  );
}
