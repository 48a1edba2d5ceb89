import { sql } from 'kysely';
import type { Db, Dialect } from '../storage/database.js';
import { tenantId } from './settings.js';

// The tenant segment of Entra's URLs (/{tenant}/oauth2/v2.0/token): the tenant id, a domain the
// organisation's users have, or organizations/common. A domain is found through the index on the
// UPN's domain part (migration 2026-12-01-01-entra), so an unknown tenant costs one index probe,
// never a scan of the users.

/**
 * A domain name: dot-separated labels, the last of them not all digits (no top-level domain is),
 * so neither an IP address nor Graph's version segment (`/v1.0/…`) is ever taken for a tenant.
 */
const DOMAIN =
  /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.(?![0-9]+$)[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
/** The tenant words every Entra tenant answers to. */
export const MULTI_TENANT_SEGMENTS = ['common', 'organizations'] as const;

/** The expression the domain index is built on, per dialect; a query must use it as is. */
export function upnDomainExpression(dialect: Dialect) {
  return dialect === 'postgres' ? sql<string>`split_part(upn, '@', 2)` : sql<string>`substr(upn, instr(upn, '@') + 1)`;
}

/** The statement that looks a domain up (exported so that its plan can be checked). */
export function domainLookup(db: Db, dialect: Dialect, domain: string) {
  return db.selectFrom('directory_users').select('id').where(upnDomainExpression(dialect), '=', domain).limit(1);
}

export async function tenantIsOurs(db: Db, dialect: Dialect, tenant: string): Promise<boolean> {
  const value = tenant.toLowerCase();
  if ((MULTI_TENANT_SEGMENTS as readonly string[]).includes(value)) return true;
  if (value === (await tenantId(db))) return true;
  if (!DOMAIN.test(value)) return false;
  return (await domainLookup(db, dialect, value).executeTakeFirst()) !== undefined;
}
