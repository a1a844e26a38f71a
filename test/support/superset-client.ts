import { request } from 'undici';

/** A response as a user's client sees it. */
export interface Seen {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

/** Cookie jar of one browser: keeps what Set-Cookie gives, sends it back. */
export class Jar {
  readonly #cookies = new Map<string, string>();
  take(setCookie: string | string[] | undefined): void {
    for (const c of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      this.#cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1));
    }
  }
  header(): string {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

export async function call(
  base: string,
  path: string,
  init: { method?: string; body?: string; headers?: Record<string, string>; jar?: Jar; form?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Seen> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.jar) headers.cookie = init.jar.header();
  let body = init.body;
  if (init.form) {
    body = new URLSearchParams(init.form).toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (body !== undefined) headers['content-type'] ??= 'application/json';
  const res = await request(`${base}${path}`, { method: (init.method ?? 'GET') as 'GET', headers, body, headersTimeout: init.timeoutMs ?? 30_000, bodyTimeout: init.timeoutMs ?? 30_000 });
  const text = await res.body.text();
  init.jar?.take(res.headers['set-cookie']);
  return { status: res.statusCode, headers: res.headers, text };
}

/** Logs in through the REST API: a JWT for `Authorization: Bearer`. */
export async function jwtLogin(base: string, password: string): Promise<string> {
  const r = await call(base, '/api/v1/security/login', { method: 'POST', body: JSON.stringify({ username: 'admin', password, provider: 'db', refresh: true }) });
  if (r.status !== 200) throw new Error(`login answered ${r.status}: ${r.text.slice(0, 200)}`);
  return (JSON.parse(r.text) as { access_token: string }).access_token;
}
