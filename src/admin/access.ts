import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DirectoryUser } from '../directory/users.js';
import { forbidden, unauthorized } from '../errors.js';
import { currentUser } from '../http/auth.js';
import type { Db } from '../storage/database.js';

const checked = new WeakMap<FastifyRequest, Promise<DirectoryUser>>();

/** The signed-in (or bearer-token) admin; 401 for nobody, 403 for anyone else. Checked once a request. */
export function requireAdmin(request: FastifyRequest, db: Db): Promise<DirectoryUser> {
  let admin = checked.get(request);
  if (!admin) {
    admin = checkAdmin(request, db);
    checked.set(request, admin);
  }
  return admin;
}

async function checkAdmin(request: FastifyRequest, db: Db): Promise<DirectoryUser> {
  const user = await currentUser(request, db);
  if (!user) throw unauthorized();
  if (!user.isAdmin || !user.enabled) throw forbidden('Only administrators can use the admin console.');
  return user;
}

/**
 * Refuses non-admins before anything else about the request is looked at, so that they get 403
 * (or the sign-in) whatever they send, never a validation answer about an admin route.
 */
export function guardAdminRoutes(app: FastifyInstance, db: Db, except: readonly string[] = []): void {
  app.addHook('onRequest', async (request) => {
    if (!except.includes(request.routeOptions.url ?? '')) await requireAdmin(request, db);
  });
}
