import type { App } from '../../src/app.js';

/** A cookie jar and the form token over app.inject(), as a browser holds them. */
export class FormClient {
  cookies = new Map<string, string>();
  constructor(
    private app: App,
    public language = 'en',
  ) {}

  get cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(method: 'GET' | 'POST', url: string, form?: Record<string, string | string[]>) {
    let payload: string | undefined;
    if (form) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(form)) {
        for (const v of Array.isArray(value) ? value : [value]) params.append(key, v);
      }
      payload = params.toString();
    }
    const response = await this.app.inject({
      method,
      url,
      headers: {
        cookie: this.cookieHeader,
        'accept-language': this.language,
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(payload !== undefined ? { payload } : {}),
    });
    this.keep(response);
    return response;
  }

  private keep(response: { cookies: Array<{ name: string; value: string; maxAge?: number }> }) {
    for (const cookie of response.cookies) {
      if (cookie.value === '' || cookie.maxAge === 0) this.cookies.delete(cookie.name);
      else this.cookies.set(cookie.name, cookie.value);
    }
  }

  /** A picture sent from an upload form (multipart, field `photo`) with the form token. */
  async upload(url: string, token: string, file: Buffer) {
    const boundary = '----photosyncform';
    const response = await this.app.inject({
      method: 'POST',
      url,
      headers: {
        cookie: this.cookieHeader,
        'accept-language': this.language,
        'content-type': `multipart/form-data; boundary=${boundary}`,
      },
      payload: Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${token}\r\n`),
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="photo"; filename="me.png"\r\nContent-Type: image/png\r\n\r\n`,
        ),
        file,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]),
    });
    this.keep(response);
    return response;
  }

  async csrfToken(url = '/signin') {
    const page = await this.request('GET', url);
    const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
    if (!token) throw new Error(`no form token on ${url}`);
    return token;
  }

  async signIn(upn: string, password: string) {
    return this.request('POST', '/signin', { upn, password, _csrf: await this.csrfToken() });
  }
}
