import { describeError, isTenantError, tenantError, type TenantError } from './errors.js';
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
    return await fetch(openIdConfigurationUrl(settings), { signal: AbortSignal.timeout(ANSWER_WITHIN_MS) });
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
  await answer.body?.cancel();
  const what = `${explained.what.replace(/\.$/, '')} (the host answers ${answer.status}).`;
  return tenantError(explained.problem, what, explained.fix);
}
