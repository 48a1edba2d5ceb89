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
    for (const cookie of response.cookies) {
      if (cookie.value === '' || cookie.maxAge === 0) this.cookies.delete(cookie.name);
      else this.cookies.set(cookie.name, cookie.value);
    }
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
