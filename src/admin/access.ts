import type { FastifyRequest } from 'fastify';
import type { DirectoryUser } from '../directory/users.js';
import { AppError, unauthorized } from '../errors.js';
import { currentUser } from '../http/auth.js';
import type { Db } from '../storage/database.js';

export const forbidden = (message = 'Only administrators can use the admin console.') =>
  new AppError('forbidden', 403, message);

/** The signed-in (or bearer-token) admin; 401 for nobody, 403 for anyone else. */
export async function requireAdmin(request: FastifyRequest, db: Db): Promise<DirectoryUser> {
  const user = await currentUser(request, db);
  if (!user) throw unauthorized();
  if (!user.isAdmin || !user.enabled) throw forbidden();
  return user;
}
