import { body, InjectHeaders } from '@pnp/queryable';
import { SPBrowser, SPQueryable, spPost } from '@pnp/sp';
import { createBatch } from '@pnp/sp/batching.js';
import { SiteUser, SiteUsers } from '@pnp/sp/site-users/index.js';
import { Web, type IWeb } from '@pnp/sp/webs/index.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FastifyRequest } from 'fastify';
import type { App } from '../src/app.js';
import { createApp } from '../src/directory/apps.js';
import { parseBatch } from '../src/graph/batch.js';
import { isBatchOwnHeader } from '../src/http/batch-headers.js';
import { parseSharePointBatch, runSharePointBatch } from '../src/sites/rest-batch.js';
import { issueAccessToken } from '../src/directory/tokens.js';
import type { DirectoryUser } from '../src/directory/users.js';
import type { Services } from '../src/services.js';
import { getSiteProfile } from '../src/sites/profiles.js';
import { siteUserId } from '../src/sites/rest-web.js';
import { userToken } from './support/apps.js';
import { makeUser } from './support/factories.js';
import { createTestStore, openTestServices, testDialects, type TestStore } from './support/services.js';
import { startTlsServer, type TlsServer } from './support/tls-server.js';

// PnPjs's batching (`web.batched()`), unchanged, against a real `photosync serve` over TLS: PnPjs
// writes the multipart/mixed body (GETs alone, POSTs in changesets) and reads the answer itself.

describe('the headers a batched request keeps', () => {
  it('are the same in SharePoint’s $batch and Graph’s JSON batching: the batch’s own are dropped in both', () => {
    const sent: Record<string, string> = {
      Accept: 'application/json',
      'Content-Type': 'application/json',
      'If-Match': '*',
      Prefer: 'return=minimal',
      Authorization: 'Bearer other',
      Cookie: 'session=other',
      'X-RequestDigest': '0x1,01 Jan 2026 00:00:00 -0000',
      Host: 'elsewhere.example',
      Forwarded: 'for=192.0.2.1',
      'X-Forwarded-For': '192.0.2.1',
      'X-Real-IP': '192.0.2.1',
      'Proxy-Authorization': 'Basic eDp5',
      'Content-Transfer-Encoding': 'binary',
      'Transfer-Encoding': 'chunked',
      Connection: 'close',
      Expect: '100-continue',
      'X-HTTP-Method': 'POST',
    };
    const kept = ['accept', 'content-type', 'if-match', 'prefer'];
    const [graph] = parseBatch(
      Buffer.from(JSON.stringify({ requests: [{ id: '1', method: 'POST', url: '/me', headers: sent, body: {} }] })),
    );
    expect(Object.keys(graph!.headers).sort()).toEqual(kept);
    const lines = Object.entries(sent).map(([name, value]) => `${name}: ${value}`);
    const [sharepoint] = parseSharePointBatch(
      Buffer.from(
        `--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n` +
          `POST /_api/web/ensureuser HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n{}\r\n--b--\r\n`,
        'latin1',
      ),
      'multipart/mixed; boundary=b',
      ['https://photos.example'],
      'https://photos.example',
    );
    expect(Object.keys(sharepoint!.headers).sort()).toEqual(kept);
    for (const name of Object.keys(sent))
      expect(isBatchOwnHeader(name.toLowerCase())).toBe(!kept.includes(name.toLowerCase()));
  });
});

describe('a request of a SharePoint batch that fails unexpectedly', () => {
  it('is answered 500 in SharePoint’s error shape, and the rest of the batch runs and its answer ends whole', async () => {
    const own = 'https://photos.example';
    const parts = parseSharePointBatch(
      Buffer.from(
        ['first', 'fails', 'third']
          .map((name) => `--b\r\nContent-Type: application/http\r\n\r\nGET /_api/${name} HTTP/1.1\r\n`)
          .join('') + '--b--\r\n',
      ),
      'multipart/mixed; boundary=b',
      [own],
      own,
    );
    // The router throwing instead of answering, for one request only.
    const inject = vi.fn(async ({ url }: { url: string }) => {
      if (url.includes('fails')) throw new Error('the router failed');
      return {
        statusCode: 200,
        headers: { 'content-type': 'application/json' },
        rawPayload: Buffer.from(`{"url":"${url}"}`),
      };
    });
    const log = { error: vi.fn() };
    const batchRequest = {
      headers: { accept: 'application/json;odata=verbose', authorization: 'Bearer x', host: 'photos.example' },
      ip: '192.0.2.1',
      log,
    };
    const { boundary, body } = runSharePointBatch(
      { inject } as unknown as App,
      batchRequest as unknown as FastifyRequest,
      parts,
    );
    const answer = Buffer.concat((await body.toArray()) as Buffer[]).toString('latin1');
    expect(inject).toHaveBeenCalledTimes(3);
    expect(answer.match(/^HTTP\/1\.1 [^\r\n]*/gm)).toEqual([
      'HTTP/1.1 200 OK',
      'HTTP/1.1 500 Internal Server Error',
      'HTTP/1.1 200 OK',
    ]);
    const failed = answer.split(`--${boundary}`)[2]!;
    expect(failed).toContain('CONTENT-TYPE: application/json;odata=verbose;charset=utf-8\r\n\r\n');
    const error = JSON.parse(failed.slice(failed.indexOf('\r\n\r\n{') + 4)) as {
      error: { code: string; message: { value: string } };
    };
    expect(error.error.code).toBe('-1, System.Exception');
    expect(error.error.message.value).toMatch(/GET \/_api\/fails failed/);
    expect(answer).toContain('{"url":"/_api/third"}\r\n');
    expect(answer.endsWith(`\r\n--${boundary}--\r\n`)).toBe(true);
    expect(log.error).toHaveBeenCalledTimes(1);
  });
});

describe('the boundary a SharePoint batch names', () => {
  const own = 'https://photos.example';
  const batchWith = (boundary: string) =>
    Buffer.from(
      `--${boundary}\r\nContent-Type: application/http\r\n\r\nGET /_api/web HTTP/1.1\r\n\r\n--${boundary}--\r\n`,
    );
  it('is taken up to 70 characters, quoted or not', () => {
    const boundary = 'b'.repeat(70);
    for (const type of [`multipart/mixed; boundary=${boundary}`, `multipart/mixed; boundary="${boundary}"`]) {
      expect(parseSharePointBatch(batchWith(boundary), type, [own], own), type).toHaveLength(1);
    }
  });
  it('is refused, saying so, when longer than 70 characters (RFC 2046), not cut to its first 70', () => {
    // Cut to 70, "--" + 70 b's + "--" would read as the closing line: the batch would be read wrong.
    for (const boundary of ['b'.repeat(71), `${'b'.repeat(70)}--`]) {
      for (const type of [`multipart/mixed; boundary=${boundary}`, `multipart/mixed; boundary="${boundary}"`]) {
        expect(() => parseSharePointBatch(batchWith(boundary), type, [own], own), type).toThrow(
          /boundary of at most 70 characters/,
        );
      }
    }
  });
});

describe('a SharePoint batch with an empty part', () => {
  it('is refused for the part it holds, not as a batch without its closing line', () => {
    const own = 'https://photos.example';
    for (const body of ['--b\r\n--b--\r\n', '--b\n--b--\n']) {
      expect(() => parseSharePointBatch(Buffer.from(body), 'multipart/mixed; boundary=b', [own], own), body).toThrow(
        /must have Content-Type application\/http/,
      );
    }
  });
});

describe('a request of a SharePoint batch answered 405', () => {
  it('keeps its Allow header in the batch’s answer, as it would alone', async () => {
    const own = 'https://photos.example';
    const parts = parseSharePointBatch(
      Buffer.from('--b\r\nContent-Type: application/http\r\n\r\nPOST /_api/web HTTP/1.1\r\n\r\n--b--\r\n'),
      'multipart/mixed; boundary=b',
      [own],
      own,
    );
    const inject = vi.fn(async () => ({
      statusCode: 405,
      headers: { 'content-type': 'application/json', allow: 'GET, HEAD' },
      rawPayload: Buffer.from('{}'),
    }));
    const batchRequest = { headers: { host: 'photos.example' }, ip: '192.0.2.1', log: { error: vi.fn() } };
    const { body } = runSharePointBatch({ inject } as unknown as App, batchRequest as unknown as FastifyRequest, parts);
    const answer = Buffer.concat((await body.toArray()) as Buffer[]).toString('latin1');
    expect(answer).toContain('HTTP/1.1 405 Method Not Allowed\r\n');
    expect(answer).toContain('\r\nALLOW: GET, HEAD\r\n');
  });
});

for (const dialect of testDialects()) {
  describe(`PnPjs batched() over TLS [${dialect}]`, () => {
    let store: TestStore;
    let services: Services;
    let server: TlsServer;
    let jane: DirectoryUser;
    let kalle: DirectoryUser;
    let token: string;

    beforeAll(async () => {
      store = await createTestStore(dialect);
      services = await openTestServices(store);
      server = await startTlsServer(store);
      jane = await makeUser(services, { displayName: 'Jane Doe' });
      kalle = await makeUser(services, { displayName: 'Kalle Kask' });
      token = await userToken(services, jane, ['User.Read', 'User.ReadBasic.All', 'ProfilePhoto.Read.All']);
    }, 60_000);
    afterAll(async () => {
      await server?.stop();
      await services?.close();
      await store?.drop();
    });

    /** A new app's token with ProfilePhoto.ReadWrite.All, signed for this server's address as its token endpoint signs them. */
    const writerToken = async (name: string) => {
      const app = await createApp(services.database.db, name, ['ProfilePhoto.ReadWrite.All']);
      const issued = await issueAccessToken(
        { db: services.database.db, publicUrl: server.baseUrl },
        { kind: 'app', app },
        { clientAuth: 'certificate' },
      );
      return issued.accessToken;
    };
    const web = (bearer = token) =>
      Web(server.baseUrl).using(SPBrowser(), InjectHeaders({ Authorization: `Bearer ${bearer}` }));
    /** What `web.batched()` does (the method is added by module augmentation, which NodeNext does not apply). */
    function batched(base: IWeb): [IWeb, () => Promise<void>] {
      const copy = Web(base);
      const [register, execute] = createBatch(copy);
      copy.using(register);
      return [copy, execute];
    }
    const batchUrl = () => `${server.baseUrl}/_api/$batch`;

    it('answers GETs and changeset POSTs in one request, each as it would be answered alone', async () => {
      const [batch, execute] = batched(web());
      const site = batch.select('Title', 'Url')();
      const me = SiteUser(batch, 'currentuser')();
      const byEmail = SiteUsers(batch).getByEmail(kalle.upn)();
      const missing = SiteUsers(batch).getByEmail('nobody@contoso.com')();
      const ensured = spPost(Web(batch, 'ensureuser'), body({ logonName: `i:0#.f|membership|${kalle.upn}` }));
      // A user's token may not change someone else's profile: refused inside the batch as alone.
      const refused = spPost(
        SPQueryable([batch, `${server.baseUrl}/_api/SP.UserProfiles.PeopleManager/SetSingleValueProfileProperty`]),
        body({ accountName: `i:0#.f|membership|${kalle.upn}`, propertyName: 'PictureURL', propertyValue: '' }),
      );
      const settled = Promise.allSettled([site, me, byEmail, missing, ensured, refused]);
      await execute();
      const [siteA, meA, byEmailA, missingA, ensuredA, refusedA] = await settled;
      expect(siteA).toMatchObject({ status: 'fulfilled', value: { Url: server.baseUrl } });
      expect(meA).toMatchObject({ status: 'fulfilled', value: { Id: siteUserId(jane.id), Email: jane.upn } });
      expect(byEmailA).toMatchObject({ status: 'fulfilled', value: { Title: 'Kalle Kask' } });
      expect(missingA).toMatchObject({ status: 'rejected', reason: { status: 404 } });
      expect(ensuredA).toMatchObject({ status: 'fulfilled', value: { Id: siteUserId(kalle.id) } });
      expect(refusedA).toMatchObject({ status: 'rejected', reason: { status: 403 } });
      expect(await getSiteProfile(services.database.db, kalle.id)).toBeUndefined();
    });

    it('refuses a batch without credentials, as each of its requests would be', async () => {
      const response = await fetch(batchUrl(), {
        method: 'POST',
        headers: { 'Content-Type': 'multipart/mixed; boundary=batch_1', Accept: 'application/json' },
        body: `--batch_1\nContent-Type: application/http\n\nGET ${server.baseUrl}/_api/web HTTP/1.1\n\n--batch_1--\n`,
      });
      expect(response.status).toBe(401);
    });

    /** A raw batch with the given parts: `METHOD url`, or a whole request (several lines) as it is. */
    const rawBatch = (parts: string[], type = 'multipart/mixed; boundary=batch_x', bearer = token) =>
      fetch(batchUrl(), {
        method: 'POST',
        headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': type, Accept: 'application/json;odata=verbose' },
        body:
          parts
            .map(
              (part) =>
                `--batch_x\r\nContent-Type: application/http\r\n\r\n${part.includes('\r\n') ? part : `${part} HTTP/1.1\r\nAccept: application/json\r\n`}\r\n`,
            )
            .join('') + '--batch_x--\r\n',
      });

    /** A batch with the body as given, its boundary batch_h. */
    const partsBatch = (body: string) =>
      fetch(batchUrl(), {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'multipart/mixed; boundary=batch_h',
          Accept: 'application/json;odata=verbose',
        },
        body,
      });
    const getWeb = `GET /_api/web HTTP/1.1\r\nAccept: application/json\r\n`;

    it('takes parts of type application/http with parameters, with or without Content-Transfer-Encoding binary', async () => {
      const response = await partsBatch(
        `--batch_h\r\nContent-Type: application/http; msgtype=request\r\nContent-Transfer-Encoding: BINARY\r\n\r\n${getWeb}\r\n` +
          `--batch_h\r\ncontent-type: Application/HTTP\r\n\r\n${getWeb}\r\n--batch_h--\r\n`,
      );
      expect(response.status).toBe(200);
      expect((await response.text()).match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
    });

    it('refuses malformed and oversized batches whole, in SharePoint’s error shape, running none of their parts', async () => {
      const writer = await writerToken('profile writer');
      const setProperty = JSON.stringify({
        accountName: `i:0#.f|membership|${kalle.upn}`,
        propertyName: 'SPS-PictureExchangeSyncState',
        propertyValue: '1',
      });
      const cases: Array<[Promise<Response>, RegExp]> = [
        [rawBatch([`GET ${server.baseUrl}/_api/web`], 'application/json'), /multipart\/mixed/],
        [rawBatch([`GET ${server.baseUrl}/_api/web`], 'multipart/mixed'), /boundary/],
        [rawBatch([]), /no requests/],
        [rawBatch(Array.from({ length: 101 }, () => `GET ${server.baseUrl}/_api/web`)), /100/],
        [rawBatch([`GET ${server.baseUrl}/_api/web`, `GET ${server.baseUrl}/_layouts/15/userphoto.aspx`]), /_api/],
        [rawBatch([`GET ${server.baseUrl}/_api/$batch`]), /batch/],
        [rawBatch([`DELETE ${server.baseUrl}/_api/web`]), /GET and POST/],
        [rawBatch(['GET']), /request line/],
        // Header lines that are not "Name: value", in the request or in the part's own headers.
        ...(
          [
            ['Accept application/json', /header line without a colon.*"Accept application\/json"/],
            [': application/json', /no name before its colon/],
            ['   : application/json', /no name before its colon/],
            ['Bad Name: x', /header name with a space.*"Bad Name"/],
            ['Accept : application/json', /header name with a space.*"Accept "/],
            [' folded: x', /header name with a space/],
            ['X-Ctl\x01: x', /header name with a space, control.*"X-Ctl\\u0001"/],
            ['Accept: application/json\x00', /control character in the value of its Accept header/],
            ['Accept: a\rb', /control character in the value of its Accept header/],
          ] as const
        ).map(([line, message]): [Promise<Response>, RegExp] => [
          rawBatch([`GET ${server.baseUrl}/_api/web HTTP/1.1\r\n${line}\r\n`]),
          message,
        ]),
        // More header lines than a request sent alone may have (16 KB), in a request or a part.
        [
          rawBatch([
            `GET ${server.baseUrl}/_api/web HTTP/1.1\r\n${Array.from({ length: 2000 }, (_, i) => `X-Filler-${i}: x`).join('\r\n')}\r\n`,
          ]),
          /A batched request has [\d,]+ bytes of header lines; at most 16 KB/,
        ],
        [
          partsBatch(
            `--batch_h\r\nContent-Type: application/http\r\n${'X-Filler: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n'.repeat(500)}\r\n${getWeb}\r\n--batch_h--\r\n`,
          ),
          /A batch part has [\d,]+ bytes of header lines; at most 16 KB/,
        ],
        [
          partsBatch(
            `--batch_h\r\nContent-Type: application/http\r\nBad Part Header: x\r\n\r\n${getWeb}\r\n--batch_h--\r\n`,
          ),
          /A batch part has a header name with a space.*"Bad Part Header"/,
        ],
        // A part is an HTTP request (application/http, sent as binary) or a changeset, nothing else.
        [
          partsBatch(`--batch_h\r\nContent-Type: text/plain\r\n\r\n${getWeb}\r\n--batch_h--\r\n`),
          /A batch part must have Content-Type application\/http or a changeset \(multipart\/mixed\), not "text\/plain"/,
        ],
        [
          partsBatch(`--batch_h\r\nContent-Transfer-Encoding: binary\r\n\r\n${getWeb}\r\n--batch_h--\r\n`),
          /A batch part must have Content-Type application\/http.*not none/,
        ],
        [
          partsBatch(
            `--batch_h\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
              `${Buffer.from(getWeb).toString('base64')}\r\n--batch_h--\r\n`,
          ),
          /Content-Transfer-Encoding binary, not "base64"/,
        ],
        [
          partsBatch(
            '--batch_h\r\nContent-Type: multipart/mixed; boundary=changeset_h\r\n\r\n' +
              `--changeset_h\r\nContent-Type: application/json\r\n\r\nPOST ${server.baseUrl}/_api/web/ensureuser HTTP/1.1\r\n\r\n` +
              '--changeset_h--\r\n--batch_h--\r\n',
          ),
          /A changeset part must have Content-Type application\/http, not "application\/json"/,
        ],
        // A write the token may make, then a part that cannot run: the write is not made either.
        [
          rawBatch(
            [
              `POST ${server.baseUrl}/_api/SP.UserProfiles.PeopleManager/SetSingleValueProfileProperty HTTP/1.1\r\nContent-Type: application/json\r\n\r\n${setProperty}\r\n--batch_x\r\nContent-Type: application/http\r\n\r\nGET https://elsewhere.example/_api/web HTTP/1.1\r\n`,
            ],
            undefined,
            writer,
          ),
          /not on this site/,
        ],
      ];
      for (const [answer, message] of cases) {
        const response = await answer;
        expect(response.status, String(message)).toBe(400);
        const error = ((await response.json()) as { error: { code: string; message: { value: string } } }).error;
        expect(error.code).toBe('-1, Microsoft.SharePoint.Client.InvalidClientQueryException');
        expect(error.message.value).toMatch(message);
      }
      expect(await getSiteProfile(services.database.db, kalle.id)).toBeUndefined();
      // The same write in a batch that can run is made.
      const alone = await rawBatch(
        [
          `POST ${server.baseUrl}/_api/SP.UserProfiles.PeopleManager/SetSingleValueProfileProperty HTTP/1.1\r\nContent-Type: application/json\r\n\r\n${setProperty}`,
        ],
        undefined,
        writer,
      );
      expect(alone.status).toBe(200);
      expect(await alone.text()).toContain('HTTP/1.1 200 OK');
      expect(await getSiteProfile(services.database.db, kalle.id)).toMatchObject({ exchangeSyncState: 1 });
    });

    it('streams its answer, so a batch of large files is not held in memory whole', async () => {
      const writer = await writerToken('file writer');
      const folder = `${server.baseUrl}/_api/web/GetFolderByServerRelativeUrl('/User Photos/Profile Pictures')`;
      const bytes = Buffer.alloc(4_000_000, 7);
      const added = await fetch(`${folder}/Files/add(url='large.bin',overwrite=true)`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${writer}`, 'Content-Type': 'application/octet-stream' },
        body: bytes,
      });
      expect(added.status, await added.clone().text()).toBe(200);
      const file = `/_api/web/GetFileByServerRelativeUrl('/User%20Photos/Profile%20Pictures/large.bin')/$value`;
      const response = await rawBatch(Array.from({ length: 20 }, () => `GET ${file}`));
      expect(response.status).toBe(200);
      // Written as the requests run (chunked), not gathered first and sent with a length.
      expect(response.headers.get('content-length')).toBeNull();
      const answer = Buffer.from(await response.arrayBuffer());
      expect(answer.toString('latin1').match(/HTTP\/1\.1 200 OK/g)).toHaveLength(20);
      expect(answer.length).toBeGreaterThan(20 * bytes.length);
    });

    it('keeps the line breaks a request body ends with: only the one before the boundary is the boundary’s', async () => {
      const writer = await writerToken('newline writer');
      const folder = `${server.baseUrl}/_api/web/GetFolderByServerRelativeUrl('/User%20Photos/Profile%20Pictures')`;
      // Binary bytes ending in CR LF, twice, with one more line break (LF alone) before them.
      const bytes = Buffer.from([0x00, 0xff, 0x41, 0x0a, 0x0d, 0x0a, 0x0d, 0x0a]);
      const part = (name: string, newline: string) =>
        Buffer.concat([
          Buffer.from(
            `--changeset_n${newline}Content-Type: application/http${newline}Content-Transfer-Encoding: binary${newline}${newline}` +
              `POST ${folder}/Files/add(url='${name}',overwrite=true) HTTP/1.1${newline}` +
              `Content-Type: application/octet-stream${newline}${newline}`,
            'latin1',
          ),
          bytes,
          Buffer.from(newline, 'latin1'),
        ]);
      const response = await fetch(batchUrl(), {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${writer}`,
          'Content-Type': 'multipart/mixed; boundary=batch_n',
          Accept: 'application/json;odata=verbose',
        },
        body: Buffer.concat([
          Buffer.from('--batch_n\r\nContent-Type: multipart/mixed; boundary=changeset_n\r\n\r\n'),
          part('crlf.bin', '\r\n'),
          // As PnPjs writes its batches: LF alone.
          part('lf.bin', '\n'),
          Buffer.from('--changeset_n--\r\n--batch_n--\r\n'),
        ]),
      });
      expect(response.status).toBe(200);
      expect((await response.text()).match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
      for (const name of ['crlf.bin', 'lf.bin']) {
        const file = await fetch(
          `${server.baseUrl}/_api/web/GetFileByServerRelativeUrl('/User%20Photos/Profile%20Pictures/${name}')/$value`,
          { headers: { Authorization: `Bearer ${writer}` } },
        );
        expect(file.status, name).toBe(200);
        expect(Buffer.from(await file.arrayBuffer()), name).toEqual(bytes);
      }
    });

    it('refuses whole a changeset holding a GET, as OData allows only writes in a changeset', async () => {
      const response = await fetch(batchUrl(), {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'multipart/mixed; boundary=batch_g',
          Accept: 'application/json;odata=verbose',
        },
        body:
          '--batch_g\r\nContent-Type: multipart/mixed; boundary=changeset_g\r\n\r\n' +
          `--changeset_g\r\nContent-Type: application/http\r\n\r\nGET ${server.baseUrl}/_api/web HTTP/1.1\r\n\r\n` +
          '--changeset_g--\r\n--batch_g--\r\n',
      });
      expect(response.status).toBe(400);
      const error = ((await response.json()) as { error: { code: string; message: { value: string } } }).error;
      expect(error.code).toBe('-1, Microsoft.SharePoint.Client.InvalidClientQueryException');
      expect(error.message.value).toMatch(/changeset/);
    });

    it('refuses whole a request to another host written without a scheme (//host/_api/…)', async () => {
      for (const address of [
        '//elsewhere.example/_api/web',
        '\\\\elsewhere.example/_api/web',
        '/\\elsewhere.example/_api/web',
      ]) {
        const response = await rawBatch([`GET ${server.baseUrl}/_api/web`, `GET ${address}`]);
        expect(response.status, address).toBe(400);
        const error = ((await response.json()) as { error: { code: string; message: { value: string } } }).error;
        expect(error.code).toBe('-1, Microsoft.SharePoint.Client.InvalidClientQueryException');
        expect(error.message.value).toMatch(/not on this site/);
      }
      // This server's own host without a scheme is this server, as a browser would read it.
      const own = await rawBatch([`GET //${new URL(server.baseUrl).host}/_api/web`]);
      expect(own.status).toBe(200);
      expect(await own.text()).toContain('HTTP/1.1 200 OK');
    });
  });
}
