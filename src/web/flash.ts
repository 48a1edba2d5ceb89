import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { directorySetting } from '../directory/settings.js';
import type { Db } from '../storage/database.js';

// What a form says after it redirects ("Settings saved", the tile's sync outcome) travels in a
// short-lived cookie signed with a key only the server knows, addressed to the page the form
// redirects to. That page shows it once and clears it, so a refresh shows nothing, and a crafted
// link (or a cookie not signed here) says nothing at all.

export const FLASH_COOKIE = 'photosync_flash';
/** Long enough for a slow redirect to arrive; an unread message is gone after it. */
const LIFETIME_SECONDS = 120;

/** A message for one page: a name its page knows, and a number some of them carry. */
export interface Flash {
  name: string;
  n?: number | undefined;
}

interface Sealed extends Flash {
  /** The path of the page it is for. */
  to: string;
  /** Epoch ms after which it is void. */
  until: number;
}

// Shared by every instance on the database, made once by whichever needs it first.
const flashKey = async (db: Db) =>
  Buffer.from(await directorySetting(db, 'flash_key', () => randomBytes(32).toString('base64url')), 'base64url');

const mac = (key: Buffer, body: string) => createHmac('sha256', key).update(body).digest('base64url');
const pathOf = (url: string) => url.split('?')[0] ?? url;

/** Leaves a message for the page at `to` (a path without query), shown there on the next visit. */
export async function setFlash(db: Db, request: FastifyRequest, reply: FastifyReply, to: string, flash: Flash) {
  const sealed: Sealed = { ...flash, to: pathOf(to), until: Date.now() + LIFETIME_SECONDS * 1000 };
  const body = Buffer.from(JSON.stringify(sealed)).toString('base64url');
  reply.setCookie(FLASH_COOKIE, `${body}.${mac(await flashKey(db), body)}`, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: request.protocol === 'https',
    maxAge: LIFETIME_SECONDS,
  });
}

/**
 * The message left for this page, if any, and clears it; a message for another page stays for it.
 * Anything not signed here, or out of date, is cleared and says nothing.
 */
export async function takeFlash(db: Db, request: FastifyRequest, reply: FastifyReply): Promise<Flash | undefined> {
  const cookie = request.cookies[FLASH_COOKIE];
  if (!cookie || request.method !== 'GET') return undefined;
  const sealed = await unseal(db, cookie);
  if (sealed && sealed.to !== pathOf(request.url)) return undefined;
  reply.clearCookie(FLASH_COOKIE, { path: '/' });
  return sealed && { name: sealed.name, n: sealed.n };
}

async function unseal(db: Db, cookie: string): Promise<Sealed | undefined> {
  const [body = '', signature = ''] = cookie.split('.');
  const expected = Buffer.from(mac(await flashKey(db), body));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  try {
    const sealed = JSON.parse(Buffer.from(body, 'base64url').toString()) as Sealed;
    if (typeof sealed.name !== 'string' || typeof sealed.to !== 'string' || !(sealed.until > Date.now())) {
      return undefined;
    }
    return sealed;
  } catch {
    return undefined;
  }
}
