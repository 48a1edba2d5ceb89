import type { RouteAuth } from '../http/auth.js';

/**
 * Who may use the console, pages and JSON API alike: an enabled administrator, by session cookie or
 * opaque token (signed tokens belong to the APIs). Everyone else is refused by the auth hook before
 * anything else about the request is looked at, so they get 403 (or the sign-in) whatever they
 * send, never a validation answer about an admin route.
 */
export const ADMINS: RouteAuth = { credentials: 'session-or-opaque-token', allow: 'admin' };
