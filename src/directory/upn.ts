// userPrincipalName handling: the one spelling every role uses (lower case), the claim form the
// sites accept in `accountname=`, and the file-name form of the "User Photos" library.

const UPN_PATTERN =
  /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;
const CLAIM_PREFIX = /^i:0#\.f\|membership\|/i;

export const MAX_UPN_LENGTH = 113; // Entra's limit for the whole userPrincipalName

/** Lower-cased UPN, or undefined when the text is not a user principal name. */
export function normalizeUpn(text: string): string | undefined {
  const upn = text.trim().toLowerCase();
  if (upn.length === 0 || upn.length > MAX_UPN_LENGTH || !UPN_PATTERN.test(upn)) return undefined;
  return upn;
}

/** Accepts `jane@contoso.com` or the claim form `i:0#.f|membership|jane@contoso.com`. */
export function upnFromAccountName(accountName: string): string | undefined {
  return normalizeUpn(accountName.trim().replace(CLAIM_PREFIX, ''));
}

export function claimForUpn(upn: string): string {
  return `i:0#.f|membership|${upn}`;
}

/**
 * SharePoint names photo files after the UPN with `@` and `.` replaced by `_`. Any other character
 * that is not safe in a URL path (`/ ? # %` and the like, which UPNs allow) becomes `_` as well.
 */
export function libraryFileStem(upn: string): string {
  return upn.replace(/[^a-z0-9_-]/g, '_');
}
