import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  BatchRequestContent,
  BatchResponseContent,
  Client,
  GraphError,
  ResponseType,
} from '@microsoft/microsoft-graph-client';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createDevCertificates } from '../src/cli/commands/dev-cert.js';
import { createApp } from '../src/directory/apps.js';
import { setUserEnabled } from '../src/directory/revocation.js';
import { tenantId } from '../src/directory/settings.js';
import type { DirectoryUser } from '../src/directory/users.js';
import type { App } from '../src/app.js';
import type { Services } from '../src/services.js';
import { userToken } from './support/apps.js';
import { closeTo, giveMailPhoto, makeUser, meanColour, solidJpeg } from './support/factories.js';
import { describeEachDialect, useTestApp } from './support/services.js';
import { freePort } from './support/tls-server.js';

// Microsoft's own Graph client, unchanged, pointed at photosync by its base URL. The client only
// sends the token to https hosts it knows (graph.microsoft.com or `customHosts`), so the server is
// reached over TLS, here through a small TLS front with a certificate from the test run's CA,
// which the test processes trust (test/global-setup.ts). (test/msal.test.ts runs `photosync serve`
// itself over TLS.)

const PURPLE: [number, number, number] = [120, 40, 160];
const YELLOW: [number, number, number] = [230, 210, 30];

describeEachDialect('Graph through @microsoft/microsoft-graph-client', (dialect) => {
  const context = useTestApp(dialect);
  let services: Services;
  let app: App;
  let front: https.Server;
  let baseUrl: string;
  let jane: DirectoryUser;
  let certDir: string;

  beforeAll(async () => {
    ({ services, app } = context);
    await app.listen({ host: '127.0.0.1', port: await freePort() });
    const { port } = app.server.address() as AddressInfo;
    certDir = await fs.mkdtemp(path.join(os.tmpdir(), 'photosync-tls-'));
    for (const file of ['ca.pem', 'ca-key.pem'])
      await fs.copyFile(path.join(inject('testCaDir'), file), path.join(certDir, file));
    const { cert, key } = createDevCertificates(certDir);
    front = https.createServer({ key: await fs.readFile(key), cert: await fs.readFile(cert) }, (request, response) => {
      const upstream = http.request(
        { host: '127.0.0.1', port, path: request.url, method: request.method, headers: request.headers },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      upstream.on('error', () => response.destroy());
      request.pipe(upstream);
    });
    const frontPort = await freePort();
    await new Promise<void>((resolve) => front.listen(frontPort, '127.0.0.1', resolve));
    baseUrl = `https://localhost:${(front.address() as AddressInfo).port}/`;
    jane = await makeUser(services);
    await giveMailPhoto(services, jane, await solidJpeg(PURPLE, 648));
  });
  afterAll(async () => {
    await new Promise((resolve) => front?.close(resolve));
    await fs.rm(certDir, { recursive: true, force: true });
  });

  const graphClient = (token: string) =>
    Client.init({
      baseUrl,
      defaultVersion: 'v1.0',
      customHosts: new Set(['localhost']),
      authProvider: (done) => done(null, token),
    });

  /** The SDK's error for a call that should fail. */
  async function failure(call: Promise<unknown>): Promise<GraphError> {
    try {
      await call;
    } catch (error) {
      if (error instanceof GraphError) return error;
      throw error;
    }
    throw new Error('The call succeeded.');
  }

  it('reads the user, the photo metadata, the bytes and the sizes', async () => {
    const client = graphClient(await userToken(services, jane));
    expect(await client.api('/me').get()).toMatchObject({ id: jane.id, userPrincipalName: jane.upn });
    const meta = await client.api('/me/photo').get();
    expect(meta).toMatchObject({ '@odata.mediaContentType': 'image/jpeg', id: '648x648', width: 648, height: 648 });
    const bytes = Buffer.from(await client.api('/me/photo/$value').responseType(ResponseType.ARRAYBUFFER).get());
    expect(closeTo(await meanColour(bytes), PURPLE)).toBe(true);
    const sizes = await client.api(`/users/${jane.upn}/photos`).get();
    expect(sizes.value).toHaveLength(9);
    const small = Buffer.from(await client.api('/me/photos/48x48/$value').responseType(ResponseType.ARRAYBUFFER).get());
    expect((await sharp(small).metadata()).width).toBe(48);
  });

  it('uploads and deletes, and surfaces Graph error codes as the SDK does', async () => {
    const kalle = await makeUser(services);
    const client = graphClient(await userToken(services, kalle));
    // Asked for bytes, the SDK leaves an error body unparsed; asked for JSON, it reads Graph's envelope.
    const noBytes = await failure(client.api('/me/photo/$value').responseType(ResponseType.ARRAYBUFFER).get());
    expect(noBytes.statusCode).toBe(404);
    const missing = await failure(client.api('/me/photo/$value').get());
    expect([missing.statusCode, missing.code]).toEqual([404, 'ImageNotFound']);
    expect(missing.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(missing.date).toBeInstanceOf(Date);

    await client
      .api('/me/photo/$value')
      .header('Content-Type', 'image/jpeg')
      .put(await solidJpeg(YELLOW, 300));
    expect(await client.api('/me/photo').get()).toMatchObject({ id: '300x300' });

    const tooLarge = await failure(
      client
        .api('/me/photo/$value')
        .header('Content-Type', 'image/jpeg')
        .put(Buffer.alloc(4 * 1024 * 1024 + 1)),
    );
    expect([tooLarge.statusCode, tooLarge.code]).toEqual([413, 'RequestEntityTooLarge']);
    const notImage = await failure(
      client.api('/me/photo/$value').header('Content-Type', 'image/png').put(Buffer.from('hello')),
    );
    expect([notImage.statusCode, notImage.code]).toEqual([400, 'ErrorInvalidImage']);
    const others = await failure(
      client
        .api(`/users/${jane.upn}/photo/$value`)
        .header('Content-Type', 'image/jpeg')
        .put(await solidJpeg(YELLOW)),
    );
    expect([others.statusCode, others.code]).toEqual([403, 'ErrorAccessDenied']);

    await client.api('/me/photo').delete();
    expect((await failure(client.api('/me/photo').get())).code).toBe('ImageNotFound');
    // Graph's reference writes the removal at /photo/$value.
    await client
      .api('/me/photo/$value')
      .header('Content-Type', 'image/jpeg')
      .put(await solidJpeg(YELLOW));
    await client.api('/me/photo/$value').delete();
    expect((await failure(client.api('/me/photo/$value').get())).code).toBe('ImageNotFound');
  });

  it('a daemon gets a token from the token endpoint and sets anyone’s photo', async () => {
    const registered = await createApp(services.database.db, 'HR photo sync', ['ProfilePhoto.ReadWrite.All']);
    const tenant = await tenantId(services.database.db);
    const response = await fetch(`${baseUrl}${tenant}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: registered.clientId,
        client_secret: registered.secret,
        scope: 'https://graph.microsoft.com/.default',
      }),
    });
    expect(response.status).toBe(200);
    const { access_token: token } = (await response.json()) as { access_token: string };
    const client = graphClient(token);
    const lee = await makeUser(services);
    await client
      .api(`/users/${lee.id}/photo/$value`)
      .header('Content-Type', 'image/jpeg')
      .put(await solidJpeg(YELLOW));
    const bytes = Buffer.from(
      await client.api(`/users/${lee.upn}/photo/$value`).responseType(ResponseType.ARRAYBUFFER).get(),
    );
    expect(closeTo(await meanColour(bytes), YELLOW)).toBe(true);
    const me = await failure(client.api('/me').get());
    expect([me.statusCode, me.code]).toEqual([400, 'BadRequest']);
  });

  it('lists users by the filters scripts use: accountEnabled, id, and in (…)', async () => {
    const reader = await makeUser(services, { displayName: 'Filter Reader' });
    const gone = await makeUser(services, { displayName: 'Filter Gone' });
    await setUserEnabled(services.database.db, gone, false);
    const client = graphClient(await userToken(services, reader, ['User.Read', 'User.ReadBasic.All']));
    const list = async (filter: string) => {
      const page = await client
        .api('/users')
        .select('id,userPrincipalName,accountEnabled')
        .filter(filter)
        .top(999)
        .get();
      return (page.value as Array<{ userPrincipalName: string; accountEnabled: boolean }>).map(
        (u) => u.userPrincipalName,
      );
    };
    const enabled = await list('accountEnabled eq true');
    expect(enabled).toContain(reader.upn);
    expect(enabled).not.toContain(gone.upn);
    expect(await list('accountEnabled eq false')).toEqual([gone.upn]);
    expect(await list(`id eq '${jane.id}'`)).toEqual([jane.upn]);
    expect((await list(`userPrincipalName in ('${jane.upn.toUpperCase()}', '${gone.upn}')`)).sort()).toEqual(
      [jane.upn, gone.upn].sort(),
    );
    expect(await list(`id in ('${reader.id}') and accountEnabled eq true`)).toEqual([reader.upn]);
    const tooMany = await failure(
      client
        .api('/users')
        .filter(`id in (${Array.from({ length: 16 }, () => `'${jane.id}'`).join(',')})`)
        .get(),
    );
    expect([tooMany.statusCode, tooMany.code]).toEqual([400, 'BadRequest']);
  });

  it('$batch through BatchRequestContent, one after another: photo bytes, a missing photo, then a request whose dependency failed', async () => {
    const client = graphClient(await userToken(services, jane, ['User.Read', 'User.ReadBasic.All']));
    const nobody = await makeUser(services);
    const step = (id: string, path: string, dependsOn?: string[]) => ({
      id,
      request: new Request(`${baseUrl}${path.slice(1)}`, { method: 'GET' }),
      ...(dependsOn ? { dependsOn } : {}),
    });
    const batch = new BatchRequestContent([
      step('1', `/users/${jane.upn}/photo/$value`),
      step('2', `/users/${nobody.upn}/photo/$value`, ['1']),
      step('3', `/users/${nobody.upn}`, ['2']),
    ]);
    const answers = new BatchResponseContent(await client.api('/$batch').post(await batch.getContent()));
    const photo = answers.getResponseById('1');
    expect([photo.status, photo.headers.get('content-type')]).toEqual([200, 'image/jpeg']);
    const bytes = Buffer.from(await photo.text(), 'base64');
    expect(closeTo(await meanColour(bytes), PURPLE)).toBe(true);
    const missing = answers.getResponseById('2');
    expect(missing.status).toBe(404);
    expect((await missing.json()).error).toMatchObject({ code: 'ImageNotFound' });
    const skipped = answers.getResponseById('3');
    expect(skipped.status).toBe(424);
    expect((await skipped.json()).error.message).toMatch(/2/);
  });
});
