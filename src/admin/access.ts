import type { RouteAuth } from '../http/auth.js';

/**
 * Who may use the console's JSON API: an enabled administrator, by session cookie or opaque token
 * (for scripts; signed tokens belong to Graph and SharePoint). Everyone else is refused by the auth
 * hook before anything else about the request is looked at, so they get 403 (or 401) whatever they
 * send, never a validation answer about an admin route.
 */
export const ADMINS: RouteAuth = { credentials: 'session-or-opaque-token', allow: 'admin' };

/** The console's pages and forms: an enabled administrator's session only, like every page. */
export const ADMIN_PAGES: RouteAuth = { credentials: 'session', allow: 'admin' };
