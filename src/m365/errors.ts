import { AppError } from '../errors.js';

// What went wrong against the tenant, in plain words with the fix, and never with a credential in
// it: Microsoft's texts pass through `scrub` before they reach a message, a log or the history.

export type TenantProblem =
  /** Admin consent missing for the app's permissions. */
  | 'consent'
  /** The app lacks a permission (Graph, SharePoint) or a policy blocks it. */
  | 'permission'
  /** The certificate is not registered on the app, or is not accepted. */
  | 'certificate'
  /** This machine's clock is off, so Entra refuses the signed assertion. */
  | 'clock'
  /** A configured URL points at no such service. */
  | 'wrong_url'
  /** No such tenant, or no such app in it. */
  | 'tenant'
  | 'app'
  /** Throttled for longer than photosync waits. */
  | 'throttled'
  /** Nothing answered (DNS, connection, TLS). */
  | 'unreachable'
  /** The tenant answered in a way photosync does not understand. */
  | 'unexpected';

export class TenantError extends AppError {
  constructor(
    readonly problem: TenantProblem,
    /** What failed and why, one sentence. */
    readonly what: string,
    /** What to do about it, one sentence. */
    readonly fix: string,
  ) {
    super(`m365_${problem}`, `${what} ${fix}`.trim());
    this.name = 'TenantError';
  }
}

export const tenantError = (problem: TenantProblem, what: string, fix = '') => new TenantError(problem, what, fix);

export function isTenantError(error: unknown): error is TenantError {
  return error instanceof TenantError;
}

/**
 * Removes anything that could be a credential from a text that came from outside: JWTs (access
 * tokens, client assertions), bearer values, PEM blocks and long base64 runs (keys, certificates),
 * form fields that carry secrets, and a password in a URL (a proxy's, `http://user:password@…`).
 * Microsoft's error texts hold none of these, but a proxy or a library echoing a request might.
 */
export function scrub(text: string): string {
  return text
    .replace(/-----BEGIN [A-Z ]+-----[\s\S]*?(-----END [A-Z ]+-----|$)/g, '[removed]')
    .replace(/eyJ[\w-]{4,}\.[\w-]{4,}\.?[\w-]*/g, '[removed]')
    .replace(/\b(Bearer)\s+[\w.~+/=-]+/gi, '$1 [removed]')
    .replace(
      /\b(client_assertion|client_secret|access_token|refresh_token|id_token|assertion|code)=[^&\s"]+/gi,
      '$1=[removed]',
    )
    .replace(/[A-Za-z0-9+/_-]{120,}={0,2}/g, '[removed]')
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s/@:]*):[^\s/@]+@/gi, '$1:[removed]@');
}

/** The error's own text, scrubbed and cut to a readable length. */
export function describeError(error: unknown, max = 400): string {
  const text = error instanceof Error ? error.message : String(error);
  const clean = scrub(text).replace(/\s+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}
