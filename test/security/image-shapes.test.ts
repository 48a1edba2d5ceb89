import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { setDirectoryPhoto } from '../../src/directory/photo.js';
import type { DirectoryUser } from '../../src/directory/users.js';
import type { App } from '../../src/app.js';
import type { Services } from '../../src/services.js';
import { runCommand } from '../support/cli.js';
import { giveMailPhoto, makeUser, solidJpeg, tokenFor } from '../support/factories.js';
import { FormClient } from '../support/form-client.js';
import { describeEachDialect, useTestApp, useTestServices } from '../support/services.js';
import { SHAPE_CASES, hostileBytes, peopleWithPictures, storedPictures } from './hostile-images.js';
import { STACK_FRAME } from './identities.js';

// Photos no portrait has (a 1 × 25,000,000 strip, a 9:1 banner) through every way in that is not
// already in hostile-images.test.ts (which sends them to both stores and POST /profile-photo):
// Graph's PUT and PATCH, SharePoint's SetMyProfilePicture, the sites' "Upload picture" page and
// the command line. Each is refused with its 400 and a sentence, and nothing is stored.

const SHAPE_MESSAGE = new RegExp(
  [
    /^The image is \d+ × \d+ pixels, but photos can be at most 16,384 pixels wide or tall\.$/,
    /^The image is \d+ × \d+ pixels, but a photo's long side can be at most 8 times its short side\.$/,
    /^That picture is too long and thin for a profile photo \(.+\)\. Crop it and try again\.$/,
  ]
    .map((r) => r.source)
    .join('|'),
);

describeEachDialect('photos of no portrait shape over HTTP', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  let withMailbox: DirectoryUser;
  let withoutMailbox: DirectoryUser;
  beforeAll(async () => {
    ({ services, app } = context);
    ({ withMailbox, withoutMailbox } = await peopleWithPictures(services));
  });

  const bearer = async (user: DirectoryUser) => ({ authorization: `Bearer ${await tokenFor(services, user)}` });

  /** Each way in answers with its status and its sentence (the page's in the user's language). */
  const WAYS_IN: Array<{ name: string; send(bytes: Buffer): Promise<{ status: number; message: string }> }> = [
    ...(['PUT', 'PATCH'] as const).map((method) => ({
      name: `Graph ${method} /v1.0/me/photo/$value`,
      async send(bytes: Buffer) {
        const response = await app.inject({
          method,
          url: '/v1.0/me/photo/$value',
          headers: { ...(await bearer(withMailbox)), 'content-type': 'image/png' },
          payload: bytes,
        });
        const { error } = response.json<{ error: { code: string; message: string } }>();
        expect(error.code).toBe('ErrorInvalidImage');
        return { status: response.statusCode, message: error.message };
      },
    })),
    {
      name: 'SharePoint SetMyProfilePicture',
      async send(bytes: Buffer) {
        const response = await app.inject({
          method: 'POST',
          url: '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture',
          headers: { ...(await bearer(withoutMailbox)), accept: 'application/json;odata=verbose' },
          payload: bytes,
        });
        const { error } = response.json<{ error: { code: string; message: { value: string } } }>();
        expect(error.code).toMatch(/^-1, image_(side_too_long|aspect_too_extreme)$/);
        return { status: response.statusCode, message: error.message.value };
      },
    },
    {
      name: 'the sites’ Upload picture page (POST /_layouts/15/editprofile.aspx)',
      async send(bytes: Buffer) {
        const browser = new FormClient(app);
        await browser.signIn(withoutMailbox.upn, 'correct horse battery');
        const page = '/_layouts/15/editprofile.aspx';
        const response = await browser.upload(page, await browser.csrfToken(page), bytes);
        expect(response.headers['content-type']).toMatch(/text\/html/);
        const message = /That picture is too long and thin for a profile photo[^<]*/.exec(response.body)?.[0];
        return { status: response.statusCode, message: message ?? response.body };
      },
    },
  ];

  for (const shape of SHAPE_CASES) {
    for (const way of WAYS_IN) {
      it(`${shape.name} through ${way.name}: 400, a sentence, nothing stored`, async () => {
        const before = await storedPictures(services, [withMailbox, withoutMailbox]);
        const { status, message } = await way.send(await hostileBytes(shape, 1));
        expect(status).toBe(400);
        expect(message).toMatch(SHAPE_MESSAGE);
        expect(message).not.toMatch(STACK_FRAME);
        expect(await storedPictures(services, [withMailbox, withoutMailbox])).toEqual(before);
      });
    }
  }
});

// ---- The command line: the mail photo, the site picture and the directory photo -------------

describe('photos of no portrait shape through the command line [sqlite]', () => {
  const context = useTestServices('sqlite');

  it(
    'photo set, site-photo set and directory-photo set refuse them with the sentence, exit 1 and no change',
    { timeout: 60_000 },
    async () => {
      const { services, store } = context;
      const user = await makeUser(services);
      await giveMailPhoto(services, user, await solidJpeg([90, 90, 200], 80));
      await setDirectoryPhoto(services.database.db, user.id, await solidJpeg([200, 90, 90], 64));
      const before = await storedPictures(services, [user]);
      for (const shape of SHAPE_CASES) {
        const file = path.join(store.dataDir, 'shape.png');
        await fs.writeFile(file, await hostileBytes(shape, 1));
        for (const command of ['photo', 'site-photo', 'directory-photo']) {
          const result = await runCommand([command, 'set', user.upn, file], store.env);
          expect(result.code, `${command}: ${result.stderr}`).toBe(1);
          expect(result.stderr.trim()).toMatch(
            new RegExp(`^photosync: ${file} was refused: The image is \\d+ × \\d+ pixels, but `),
          );
          expect(result.stderr).not.toMatch(STACK_FRAME);
        }
      }
      expect(await storedPictures(services, [user])).toEqual(before);
    },
  );
});
