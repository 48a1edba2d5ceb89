import net from 'node:net';
import { expect, it } from 'vitest';
import { MAX_REQUEST_HEAD_BYTES, READ_REQUEST_HEAD_BYTES } from '../src/http/request-head.js';
import { en } from '../src/web/messages/en.js';
import { et } from '../src/web/messages/et.js';
import { giveSitePicture, makeUser, solidJpeg, tokenFor } from './support/factories.js';
import { describeEachDialect, useListeningTestApp } from './support/services.js';

// A request whose head (address, cookies, other headers) is over the 16 KB photosync takes is
// refused with 431 before anything else is done, in its address's envelope: a browser asking for a
// page gets a page in its reader's language, the APIs their own errors. That holds however the head
// arrives (in one piece or several). Only a head over 64 KB is refused by Node on the socket, with
// the JSON error.

const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

describeEachDialect('request heads too large', (dialect) => {
  const context = useListeningTestApp(dialect);

  /** Sends a GET with these header lines, in pieces of `piece` bytes 30 ms apart; the answer. */
  const send = (path: string, lines: string[], piece = Infinity) =>
    new Promise<Answer>((resolve, reject) => {
      const head = [`GET ${path} HTTP/1.1`, 'Host: photos.contoso.com', 'Connection: close', ...lines, '', ''].join(
        '\r\n',
      );
      const socket = net.connect(context.port, '127.0.0.1', async () => {
        for (let at = 0; at < head.length; at += piece) {
          if (socket.destroyed) return;
          socket.write(head.slice(at, at + piece));
          if (at + piece < head.length) await new Promise((r) => setTimeout(r, 30));
        }
      });
      let answer = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
      socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? undefined : reject(error)));
      socket.on('close', () => {
        const [top = '', ...body] = answer.split('\r\n\r\n');
        const [statusLine = '', ...headerLines] = top.split('\r\n');
        const headers = Object.fromEntries(
          headerLines.map((line) => [
            line.slice(0, line.indexOf(':')).toLowerCase(),
            line.slice(line.indexOf(':') + 1).trim(),
          ]),
        );
        resolve({ status: Number(statusLine.split(' ')[1]), headers, body: body.join('\r\n\r\n') });
      });
    });

  const longPath = `/profile-photo?back=${'a'.repeat(20_000)}`;

  it('answers a browser with a page in its language, whether the head arrives whole or in pieces', async () => {
    for (const [lines, piece, lang, t] of [
      [[`Accept: ${HTML}`, 'Accept-Language: en-GB,en;q=0.9'], Infinity, 'en', en],
      [[`Accept: ${HTML}`, 'Accept-Language: et-EE,et;q=0.9'], 6000, 'et', et],
      [[`Accept: ${HTML}`, 'Accept-Language: en-GB', 'Cookie: photosync_lang=et'], 4000, 'et', et],
    ] as const) {
      const answer = await send(longPath, [...lines], piece);
      expect(answer.status, lines.join(' ')).toBe(431);
      expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(answer.headers['content-security-policy']).toBeDefined();
      expect(answer.body).toContain(`<html lang="${lang}"`);
      expect(answer.body).toContain(t['error.headersTooLarge.title']);
      expect(answer.body).toContain(t['error.headersTooLarge']);
    }
    // Cookies too large, on a short address, the language cookie after them: the same page.
    const cookies = await send('/', [`Accept: ${HTML}`, `Cookie: big=${'b'.repeat(20_000)}; photosync_lang=et`], 5000);
    expect(cookies.status).toBe(431);
    expect(cookies.body).toContain(et['error.headersTooLarge']);
  });

  it('takes a head of 16 KB and refuses one byte more', async () => {
    const fixed = `GET /healthz HTTP/1.1\r\nHost: photos.contoso.com\r\nConnection: close\r\nX-Pad: \r\n\r\n`.length;
    const pad = (extra: number) => [`X-Pad: ${'p'.repeat(MAX_REQUEST_HEAD_BYTES - fixed + extra)}`];
    expect((await send('/healthz', pad(0))).status).toBe(200);
    expect((await send('/healthz', pad(1))).status).toBe(431);
  });

  it('answers the APIs in their own envelopes, and a picture alike whether or not it was kept', async () => {
    const big = `x=${'a'.repeat(20_000)}`;
    const sharepoint = await send(`/_api/web?${big}`, [`Accept: ${HTML}`]);
    expect(sharepoint.status).toBe(431);
    expect(sharepoint.headers['content-type']).toMatch(/^application\/json;odata=/);
    expect(JSON.parse(sharepoint.body)).toMatchObject({
      error: { message: { value: 'The request headers are too large.' } },
    });
    const graph = await send(`/v1.0/me?${big}`, [`Accept: ${HTML}`]);
    expect(graph.status).toBe(431);
    expect(JSON.parse(graph.body)).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
    // An address no page has, asked for by a client that wants no page, and the console's API.
    for (const [path, lines] of [
      [`/nothing-here?${big}`, ['Accept: application/json']],
      [`/nothing-here?${big}`, []],
      [`/admin/api/users?${big}`, [`Accept: ${HTML}`]],
    ] as const) {
      const answer = await send(path, [...lines]);
      expect(answer.status, path.slice(0, 20)).toBe(431);
      expect(JSON.parse(answer.body), path.slice(0, 20)).toEqual({
        error: { code: 'headers_too_large', message: 'The request headers are too large.' },
      });
    }
    // A picture answered from memory (kept by address and credentials) is refused the same when
    // another header makes the head too large.
    const user = await makeUser(context.services);
    await giveSitePicture(context.services, user, await solidJpeg([10, 200, 90], 200));
    const auth = `Authorization: Bearer ${await tokenFor(context.services, user)}`;
    const picture = `/_layouts/15/userphoto.aspx?size=M&accountname=${encodeURIComponent(user.upn)}`;
    expect((await send(picture, [auth])).status).toBe(200);
    expect((await send(picture, [auth])).status).toBe(200);
    expect((await send(picture, [auth, `X-Pad: ${'p'.repeat(20_000)}`])).status).toBe(431);
  });

  it('leaves a head over 64 KB to Node: 431 with the JSON error', async () => {
    const answer = await send(`/profile-photo?x=${'a'.repeat(READ_REQUEST_HEAD_BYTES)}`, [`Accept: ${HTML}`]);
    expect(answer.status).toBe(431);
    expect(JSON.parse(answer.body)).toEqual({
      error: { code: 'headers_too_large', message: 'The request headers are too large.' },
    });
  });
});
