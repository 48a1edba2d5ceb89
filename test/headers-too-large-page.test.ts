import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { en } from '../src/web/messages/en.js';
import { et } from '../src/web/messages/et.js';
import { describeEachDialect, useTestApp } from './support/services.js';

// An address or cookies over Node's 16 KB of request headers are refused before any route runs
// (431). A browser asking for a page gets a page in its reader's language, as for every other
// refusal; an API, or a client that asks for no page, gets the JSON error.

const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

describeEachDialect('headers too large', (dialect) => {
  const context = useTestApp(dialect);
  let port = 0;
  beforeAll(async () => {
    await context.app.listen({ port: 0, host: '127.0.0.1' });
    port = (context.app.server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await context.app.close();
  });

  /** Sends a GET with these header lines; the answer's head (lower-case names) and body. */
  const send = (path: string, lines: string[]) =>
    new Promise<{ status: number; headers: Record<string, string>; body: string }>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () =>
        socket.write([`GET ${path} HTTP/1.1`, 'Host: photos.contoso.com', ...lines, '', ''].join('\r\n')),
      );
      let answer = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
      socket.on('error', reject);
      socket.on('close', () => {
        const [head = '', ...body] = answer.split('\r\n\r\n');
        const [statusLine = '', ...headerLines] = head.split('\r\n');
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

  it('answers a browser with a page in its language: from the language cookie, else Accept-Language', async () => {
    for (const [lines, lang, t] of [
      [[`Accept: ${HTML}`, 'Accept-Language: en-GB,en;q=0.9'], 'en', en],
      [[`Accept: ${HTML}`, 'Accept-Language: et-EE,et;q=0.9'], 'et', et],
      [[`Accept: ${HTML}`, 'Accept-Language: en-GB', 'Cookie: photosync_lang=et'], 'et', et],
    ] as const) {
      const answer = await send(longPath, [...lines]);
      expect(answer.status, lines.join(' ')).toBe(431);
      expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(answer.headers['content-security-policy']).toBeDefined();
      expect(answer.body).toContain(`<html lang="${lang}"`);
      expect(answer.body).toContain(t['error.headersTooLarge.title']);
      expect(answer.body).toContain(t['error.headersTooLarge']);
      expect(answer.body).not.toContain('aaaaaaaa');
    }
    // Cookies too large, on a short address: the same page.
    const cookies = await send('/', [`Accept: ${HTML}`, `Cookie: big=${'b'.repeat(20_000)}`]);
    expect(cookies.status).toBe(431);
    expect(cookies.body).toContain(en['error.headersTooLarge']);
  });

  it('answers the APIs and clients that ask for no page with the JSON error', async () => {
    for (const [path, lines] of [
      [longPath, ['Accept: application/json']],
      [longPath, []],
      [`/_api/web?x=${'a'.repeat(20_000)}`, [`Accept: ${HTML}`]],
      [`/v1.0/me?x=${'a'.repeat(20_000)}`, [`Accept: ${HTML}`]],
      [`/admin/api/users?x=${'a'.repeat(20_000)}`, [`Accept: ${HTML}`]],
    ] as const) {
      const answer = await send(path, [...lines]);
      expect(answer.status, path.slice(0, 20)).toBe(431);
      expect(answer.headers['content-type'], path.slice(0, 20)).toBe('application/json; charset=utf-8');
      expect(JSON.parse(answer.body)).toEqual({
        error: { code: 'headers_too_large', message: 'The request headers are too large.' },
      });
    }
  });
});
