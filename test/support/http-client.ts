/**
 * A browser's cookie jar and form token over real HTTP (fetch) to a listening server, for tests
 * where the bytes on the wire are the point. FormClient does the same over app.inject().
 */
export class HttpClient {
  cookies = new Map<string, string>();
  constructor(
    public baseUrl: string,
    public language = 'en',
  ) {}

  get cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** `form`: a field given a list is sent once per value, as a form's ticked boxes of one name are. */
  async request(
    method: string,
    path: string,
    options: { form?: Record<string, string | string[]>; headers?: HeadersInit } = {},
  ) {
    const headers = new Headers(options.headers);
    if (this.cookies.size > 0) headers.set('cookie', this.cookieHeader);
    if (!headers.has('accept-language')) headers.set('accept-language', this.language);
    if (!headers.has('accept')) headers.set('accept', 'text/html');
    let body: string | undefined;
    if (options.form) {
      headers.set('content-type', 'application/x-www-form-urlencoded');
      const fields = new URLSearchParams();
      for (const [name, value] of Object.entries(options.form)) {
        for (const one of typeof value === 'string' ? [value] : value) fields.append(name, one);
      }
      body = fields.toString();
    }
    const response = await fetch(`${this.baseUrl}${path}`, { method, headers, body, redirect: 'manual' });
    this.keep(response);
    return { status: response.status, headers: response.headers, body: await response.text() };
  }

  /** A file sent from an upload form (multipart, field `photo`) with the form token. */
  async upload(path: string, token: string, file: Buffer, filename = 'me.jpg', type = 'image/jpeg') {
    const form = new FormData();
    form.set('_csrf', token);
    form.set('photo', new Blob([new Uint8Array(file)], { type }), filename);
    const response = await fetch(`${this.baseUrl}${path}`, {
      method: 'POST',
      headers: { cookie: this.cookieHeader, 'accept-language': this.language, accept: 'text/html' },
      body: form,
      redirect: 'manual',
    });
    this.keep(response);
    return { status: response.status, headers: response.headers, body: await response.text() };
  }

  private keep(response: Response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=thu, 01 jan 1970/i.test(a));
      if (value === '' || expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async csrfToken(path = '/signin') {
    const page = await this.request('GET', path);
    const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
    if (!token) throw new Error(`no form token on ${path}`);
    return token;
  }

  async signIn(upn: string, password: string) {
    return this.request('POST', '/signin', { form: { upn, password, _csrf: await this.csrfToken() } });
  }
}

/** The text of the page's alert or status message, or undefined. */
export function pageMessage(html: string): string | undefined {
  return /role="(?:alert|status)"[^>]*>([^<]*)</.exec(html)?.[1];
}
