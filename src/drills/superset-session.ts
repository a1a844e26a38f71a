import type { Agent} from 'undici';
import { request } from 'undici';
import { ErrorCode, SidecarError } from '../errors.ts';

/** A logged-in browser's credentials: the session cookie and the CSRF token Superset's frontend sends. */
export interface Session {
  readonly cookie: string;
  readonly csrf: string;
}

function takeCookies(jar: Map<string, string>, setCookie: string | string[] | undefined): void {
  for (const c of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
    const pair = c.split(';')[0]!;
    const eq = pair.indexOf('=');
    if (eq > 0) jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1));
  }
}
const cookieHeader = (jar: Map<string, string>) => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');

/**
 * Logs in the way a browser does, through a sidecar: GET /login/ for the form's CSRF token, POST the form
 * (a session cookie comes back), then GET /api/v1/security/csrf_token/ for the token API writes need.
 */
export async function login(base: string, username: string, password: string, dispatcher: Agent): Promise<Session> {
  const jar = new Map<string, string>();
  const opts = { dispatcher, headersTimeout: 30_000, bodyTimeout: 30_000 } as const;
  const page = await request(`${base}/login/`, opts);
  const html = await page.body.text();
  takeCookies(jar, page.headers['set-cookie']);
  const formToken = /name="csrf_token"[^>]*value="([^"]+)"/.exec(html)?.[1] ?? /value="([^"]+)"[^>]*name="csrf_token"/.exec(html)?.[1];
  if (page.statusCode !== 200 || formToken === undefined) {
    throw new SidecarError(ErrorCode.DRILL_LOGIN_FAILED, `GET ${base}/login/ answered ${page.statusCode} without a login form`);
  }
  const form = await request(`${base}/login/`, {
    ...opts,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader(jar) },
    body: new URLSearchParams({ csrf_token: formToken, username, password }).toString(),
  });
  await form.body.dump();
  takeCookies(jar, form.headers['set-cookie']);
  if (form.statusCode !== 302) throw new SidecarError(ErrorCode.DRILL_LOGIN_FAILED, `POST ${base}/login/ answered ${form.statusCode}, not a redirect`);
  const tok = await request(`${base}/api/v1/security/csrf_token/`, { ...opts, headers: { cookie: cookieHeader(jar) } });
  const text = await tok.body.text();
  takeCookies(jar, tok.headers['set-cookie']);
  if (tok.statusCode !== 200) throw new SidecarError(ErrorCode.DRILL_LOGIN_FAILED, `GET csrf_token answered ${tok.statusCode}: ${text.slice(0, 200)}`);
  const csrf = (JSON.parse(text) as { result?: string }).result;
  if (!csrf) throw new SidecarError(ErrorCode.DRILL_LOGIN_FAILED, 'csrf_token answer has no result');
  return { cookie: cookieHeader(jar), csrf };
}
