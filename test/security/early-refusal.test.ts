import net from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSession, createToken } from '../../src/directory/credentials.js';
import { SESSION_COOKIE } from '../../src/http/auth.js';
import { getMailPhoto } from '../../src/mail/photo-store.js';
import { et } from '../../src/web/messages/et.js';
import { makeUser } from '../support/factories.js';
import { useTestApp, type TestContext } from '../support/services.js';
import type { App } from '../../src/app.js';

// Upload routes learn who is asking, and whether they may upload, before they read a byte of the
// body. A refusal is sent at once with `Connection: close`, so the rest of a body that was only
// announced is never waited for; a body that does arrive too slowly is cut at the deadline.
// Raw sockets, because what matters is what happens on the connection.

/** Declared by every request here: the largest upload any route takes. */
const DECLARED = 5_000_000;
/** What is actually sent of it before the client goes quiet. */
const SENT = 1_000;

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends the head and the first SENT bytes of a DECLARED-byte body, then waits, without sending
 * more, until the server closes the connection. (If it never did, the test would time out.)
 */
function partialUpload(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  declared = DECLARED,
): Promise<RawAnswer> {
  const head = [
    `${method} ${path} HTTP/1.1`,
    'Host: localhost',
    `Content-Length: ${declared}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    '',
    '',
  ].join('\r\n');
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(head);
      socket.write(Buffer.alloc(SENT, 0xff));
    });
    socket.setEncoding('latin1').on('data', (chunk: string) => (answer += chunk));
    // A refusal closes the connection; the client may still be writing when it does.
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
    });
    socket.on('close', () => {
      try {
        resolve(parseAnswer(answer));
      } catch (error) {
        reject(error as Error);
      }
    });
  });
}

function parseAnswer(raw: string): RawAnswer {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`No complete answer before the connection closed: ${JSON.stringify(raw)}`);
  const [statusLine, ...lines] = raw.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1]);
  const headers = Object.fromEntries(
    lines.map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
    }),
  );
  return { status, headers, body: raw.slice(end + 4) };
}

async function listen(app: App): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return (app.server.address() as net.AddressInfo).port;
}

describe('upload routes refuse before reading the body', () => {
  // Deadlines far beyond the test's own timeout: only an early refusal can end these connections.
  const context = useTestApp('sqlite', {
    PHOTOSYNC_HEADERS_TIMEOUT_SECONDS: '600',
    PHOTOSYNC_REQUEST_TIMEOUT_SECONDS: '600',
  }) as TestContext & { app: App };
  let port: number;
  const headers: Record<string, Record<string, string>> = {};
  let ownerUpn: string;
  let ownerId: string;

  beforeAll(async () => {
    const { db } = context.services.database;
    port = await listen(context.app);
    const owner = await makeUser(context.services);
    const other = await makeUser(context.services);
    ownerUpn = owner.upn;
    ownerId = owner.id;
    headers.owner = { authorization: `Bearer ${await createToken(db, owner.id, 'early')}` };
    headers.ownerSession = { cookie: `${SESSION_COOKIE}=${await createSession(db, owner.id, 3_600_000)}` };
    headers.otherUserRead = {
      authorization: `Bearer ${await createToken(db, other.id, 'early', undefined, ['User.Read'])}`,
    };
    headers.ownerReadAll = {
      authorization: `Bearer ${await createToken(db, owner.id, 'early', undefined, ['ProfilePhoto.Read.All'])}`,
    };
  });

  const cases: Array<{
    name: string;
    method: string;
    path: () => string;
    who: string | undefined;
    type: string;
    status: number;
  }> = [
    {
      name: 'Graph PUT /me, anonymous',
      method: 'PUT',
      path: () => '/v1.0/me/photo/$value',
      who: undefined,
      type: 'image/jpeg',
      status: 401,
    },
    {
      name: 'Graph PATCH /me, anonymous',
      method: 'PATCH',
      path: () => '/v1.0/me/photo/$value',
      who: undefined,
      type: 'image/jpeg',
      status: 401,
    },
    {
      name: 'Graph PUT /users/{id}, anonymous',
      method: 'PUT',
      path: () => `/v1.0/users/${ownerUpn}/photo/$value`,
      who: undefined,
      type: 'image/jpeg',
      status: 401,
    },
    {
      name: "Graph PUT /users/{id}, another user's User.Read token",
      method: 'PUT',
      path: () => `/v1.0/users/${ownerUpn}/photo/$value`,
      who: 'otherUserRead',
      type: 'image/jpeg',
      status: 403,
    },
    {
      name: 'Graph PUT /me, a token that may only read photos',
      method: 'PUT',
      path: () => '/v1.0/me/photo/$value',
      who: 'ownerReadAll',
      type: 'image/jpeg',
      status: 403,
    },
    {
      // Graph says so with 400 ErrorInvalidImage.
      name: 'Graph PUT /me, the owner, but not an image type',
      method: 'PUT',
      path: () => '/v1.0/me/photo/$value',
      who: 'owner',
      type: 'text/plain',
      status: 400,
    },
    {
      name: 'SetMyProfilePicture, anonymous',
      method: 'POST',
      path: () => '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture',
      who: undefined,
      type: 'application/octet-stream',
      status: 401,
    },
    {
      name: 'SetMyProfilePicture, a session without the form digest',
      method: 'POST',
      path: () => '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture',
      who: 'ownerSession',
      type: 'application/octet-stream',
      status: 403,
    },
    {
      name: 'SetMyProfilePicture, a token that may only read photos',
      method: 'POST',
      path: () => '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture',
      who: 'ownerReadAll',
      type: 'application/octet-stream',
      status: 403,
    },
    {
      name: 'portal photo upload, anonymous',
      method: 'POST',
      path: () => '/profile-photo',
      who: undefined,
      type: 'multipart/form-data; boundary=x',
      status: 303,
    },
    {
      name: 'sites picture upload, anonymous',
      method: 'POST',
      path: () => '/_layouts/15/editprofile.aspx',
      who: undefined,
      type: 'multipart/form-data; boundary=x',
      status: 303,
    },
    {
      name: 'admin console form, anonymous',
      method: 'POST',
      path: () => '/admin/settings',
      who: undefined,
      type: 'application/x-www-form-urlencoded',
      status: 303,
    },
    {
      name: 'admin API, a non-admin',
      method: 'POST',
      path: () => '/admin/api/sync',
      who: 'owner',
      type: 'application/json',
      status: 403,
    },
  ];

  for (const row of cases) {
    it(`${row.name}: ${row.status} at once, the connection closed`, async () => {
      const answer = await partialUpload(port, row.method, row.path(), {
        'Content-Type': row.type,
        ...(row.who ? headers[row.who] : {}),
      });
      expect(answer.status, answer.body).toBe(row.status);
      expect(answer.headers.connection).toBe('close');
      // The refusal carries the security headers like every answer.
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
      expect(await getMailPhoto(context.services.database.db, ownerId)).toBeUndefined();
    });
  }
});

describe('an upload announced larger than its route takes', () => {
  // Deadlines far beyond the test's own timeout: only the refusal can end these connections.
  const context = useTestApp('sqlite', {
    PHOTOSYNC_HEADERS_TIMEOUT_SECONDS: '600',
    PHOTOSYNC_REQUEST_TIMEOUT_SECONDS: '600',
  }) as TestContext & { app: App };
  let port: number;
  let auth: Record<string, string>;
  let ownerId: string;

  beforeAll(async () => {
    port = await listen(context.app);
    const owner = await makeUser(context.services);
    ownerId = owner.id;
    auth = { authorization: `Bearer ${await createToken(context.services.database.db, owner.id, 'announced')}` };
  });

  for (const [method, path, type] of [
    ['PUT', '/v1.0/me/photo/$value', 'image/jpeg'],
    ['POST', '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture', 'application/octet-stream'],
  ] as const) {
    it(`${method} ${path} announced at 5 GB: 413 from the header, the body never waited for`, async () => {
      const answer = await partialUpload(port, method, path, { 'Content-Type': type, ...auth }, 5_000_000_000);
      expect(answer.status, answer.body).toBe(413);
      expect(answer.headers.connection).toBe('close');
      expect(await getMailPhoto(context.services.database.db, ownerId)).toBeUndefined();
    });
  }

  it('announced at 5 MB and then stalled: 413 once the short wait for the rest gives up', async () => {
    // Within what is read of a refused body (so a client still sending gets the answer), but the
    // client sends no more: the wait is bounded, not the request's deadline.
    const answer = await partialUpload(port, 'PUT', '/v1.0/me/photo/$value', { 'Content-Type': 'image/jpeg', ...auth });
    expect(answer.status, answer.body).toBe(413);
    expect(answer.headers.connection).toBe('close');
  });
});

describe('a body that arrives too slowly', () => {
  const context = useTestApp('sqlite', {
    PHOTOSYNC_HEADERS_TIMEOUT_SECONDS: '1',
    PHOTOSYNC_REQUEST_TIMEOUT_SECONDS: '1',
  }) as TestContext & { app: App };
  let port: number;
  let token: string;
  let ownerId: string;

  beforeAll(async () => {
    port = await listen(context.app);
    const owner = await makeUser(context.services);
    ownerId = owner.id;
    token = await createToken(context.services.database.db, owner.id, 'slow');
  });

  it('is cut at the deadline with 408 and a sentence, for a signed-in uploader too', async () => {
    const answer = await partialUpload(port, 'PUT', '/v1.0/me/photo/$value', {
      'Content-Type': 'image/jpeg',
      Authorization: `Bearer ${token}`,
    });
    expect(answer.status).toBe(408);
    expect(answer.headers.connection).toBe('close');
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(answer.body).toMatch(/did not arrive within 1 second/);
    expect(await getMailPhoto(context.services.database.db, ownerId)).toBeUndefined();
  });

  for (const path of ['/profile-photo', '/_layouts/15/editprofile.aspx']) {
    it(`is answered on ${path} with a page in the person's language, not JSON`, async () => {
      const session = await createSession(context.services.database.db, ownerId, 3_600_000);
      const answer = await partialUpload(port, 'POST', path, {
        'Content-Type': 'multipart/form-data; boundary=x',
        Accept: 'text/html,application/xhtml+xml',
        Cookie: `${SESSION_COOKIE}=${session}; photosync_lang=et`,
      });
      expect(answer.status).toBe(408);
      expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(answer.headers.connection).toBe('close');
      const page = Buffer.from(answer.body, 'latin1').toString('utf8');
      expect(page).toContain('<html lang="et">');
      expect(page).toContain(et['error.requestTimeout'].replace('{seconds}', '1'));
    });
  }

  it('is cut on the sign-in form as well, which anyone may post', async () => {
    const answer = await partialUpload(port, 'POST', '/signin', {
      'Content-Type': 'application/x-www-form-urlencoded',
    });
    expect(answer.status).toBe(408);
    expect(answer.headers.connection).toBe('close');
  });
});
