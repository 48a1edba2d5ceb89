import { afterEach, beforeAll, expect, it } from 'vitest';
import type { DirectoryUser } from '../../src/directory/users.js';
import type { App } from '../../src/app.js';
import { imageQueue } from '../../src/media/media.js';
import { imageQueueIdle, zeroPng } from '../../src/media/test-helpers.js';
import type { Services } from '../../src/services.js';
import { tokenFor } from '../support/factories.js';
import { FormClient } from '../support/form-client.js';
import { describeEachDialect, useTestApp } from '../support/services.js';
import { peopleWithPictures, storedPictures } from './hostile-images.js';

// The image queue's two answers over HTTP, with one decode at a time, no waiting line and a
// deadline of a fifth of a second (the slow image below takes over a second to decode): a decode
// past its deadline is a 400 with a sentence, and an upload that
// finds the line full is a 503 with Retry-After, in Graph's, SharePoint's and the pages' shape.
// Nothing is stored either way.

/** 50 megapixels of interlaced 16-bit RGBA: accepted by every rule, over 1 s to decode on one core. */
const SLOW = zeroPng(7071, 7071, { colourType: 6, bitDepth: 16, interlaced: true });
const SMALL = zeroPng(64, 64);

describeEachDialect('the image queue over HTTP', (dialect) => {
  const context = useTestApp(dialect, {
    PHOTOSYNC_IMAGE_CONCURRENCY: '1',
    PHOTOSYNC_IMAGE_QUEUE: '0',
    PHOTOSYNC_IMAGE_DEADLINE_SECONDS: '0.2',
  });
  let services: Services;
  let app: App;
  let withMailbox: DirectoryUser;
  let withoutMailbox: DirectoryUser;
  beforeAll(async () => {
    ({ services, app } = context);
    ({ withMailbox, withoutMailbox } = await peopleWithPictures(services));
  });
  afterEach(imageQueueIdle);

  const graphPut = async (bytes: Buffer) =>
    app.inject({
      method: 'PUT',
      url: '/v1.0/me/photo/$value',
      headers: { authorization: `Bearer ${await tokenFor(services, withMailbox)}`, 'content-type': 'image/png' },
      payload: bytes,
    });
  const pageUpload = async (language: string, bytes: Buffer) => {
    const browser = new FormClient(app, language);
    await browser.signIn(withMailbox.upn, 'correct horse battery');
    return browser.upload('/profile-photo', await browser.csrfToken('/profile-photo'), bytes);
  };
  const stored = () => storedPictures(services, [withMailbox, withoutMailbox]);

  it('answers a decode past its deadline with 400 and a sentence, on Graph and on the photo page', async () => {
    const before = await stored();
    const graph = await graphPut(SLOW);
    expect(graph.statusCode).toBe(400);
    expect(graph.json()).toMatchObject({
      error: {
        code: 'ErrorInvalidImage',
        message: 'The image took longer than 0.2 seconds to process; save it as a smaller JPEG or PNG and try again.',
      },
    });
    await imageQueueIdle();
    const page = await pageUpload('et', SLOW);
    expect(page.statusCode).toBe(400);
    expect(page.body).toContain('Selle pildi töötlemine võttis liiga kaua aega.');
    expect(await stored()).toEqual(before);
  });

  it('answers 503 with Retry-After on Graph, SharePoint and the photo page while the line is full', async () => {
    const before = await stored();
    // The one slot is taken by work this test holds, as a long decode would hold it (its caller is
    // answered at the deadline; the slot stays taken until the work ends).
    let release!: () => void;
    const held = imageQueue()
      .run({ light: false, bytes: 1, refusable: false }, () => new Promise<void>((resolve) => (release = resolve)))
      .catch(() => undefined);

    const graph = await graphPut(SMALL);
    expect(graph.statusCode).toBe(503);
    expect(Number(graph.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(graph.json()).toMatchObject({
      error: {
        code: 'serviceNotAvailable',
        message: expect.stringMatching(/^The server is busy with other pictures right now; try again in .+\.$/),
      },
    });

    const sharePoint = await app.inject({
      method: 'POST',
      url: '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture',
      headers: { authorization: `Bearer ${await tokenFor(services, withoutMailbox)}` },
      payload: SMALL,
    });
    expect(sharePoint.statusCode).toBe(503);
    expect(Number(sharePoint.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(sharePoint.json()).toMatchObject({ error: { code: '-1, image_queue_full' } });

    const page = await pageUpload('en', SMALL);
    expect(page.statusCode).toBe(503);
    expect(Number(page.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(page.body).toContain('We are busy with other pictures right now. Try again in a few seconds.');
    expect(await stored()).toEqual(before);

    // With the slot free again, the same upload goes through.
    release();
    await held;
    expect((await graphPut(SMALL)).statusCode).toBe(200);
  });
});
