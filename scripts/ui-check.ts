// A person's-eye check of Superset reached THROUGH a superset-ha sidecar: headless Chromium
// (Debian's, driven by playwright-core) logs in, opens the dashboard list and the seeded "Sales"
// dashboard, and screenshots both. Run it with the repo's Node 24 (scripts/ui-check.sh does):
//
//   node scripts/ui-check.ts [BASE_URL] [OUT_DIR]
//
//   BASE_URL  the sidecar's proxy (default http://127.0.0.1:28080, the demo's first sidecar)
//   OUT_DIR   where dashboard-list.png and dashboard.png go (default .run/ui in the repo)
//
// Environment: SHA_SUPERSET_ADMIN_PASSWORD (default admin), SHA_UI_CHROMIUM (default /usr/bin/chromium),
// SHA_UI_STEP_TIMEOUT_MS (default 60000, the bound of every wait in a step), SHA_UI_STRICT=1 (also fail
// on console errors, failed requests, 5xx answers or requests that leave the proxy's origin).
//
// Prints what it saw, then one summary line; exits 0 when every step passed, 1 otherwise.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const baseUrl = new URL(process.argv[2] ?? 'http://127.0.0.1:28080');
const origin = baseUrl.origin;
const outDir = path.resolve(process.argv[3] ?? path.join(REPO, '.run/ui'));
const username = 'admin';
const password = process.env.SHA_SUPERSET_ADMIN_PASSWORD || 'admin';
const chromiumPath = process.env.SHA_UI_CHROMIUM || '/usr/bin/chromium';
const stepTimeout = Number(process.env.SHA_UI_STEP_TIMEOUT_MS || 60_000);
const strict = process.env.SHA_UI_STRICT === '1';

const at = (p: string): string => new URL(p, baseUrl).href;
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;
const short = (u: string): string => (u.startsWith(origin) ? u.slice(origin.length) || '/' : u);

// What the page did besides what we asked of it.
const consoleErrors: string[] = [];
const failedRequests: string[] = [];
const serverErrors: string[] = [];
const offOrigin = new Set<string>();
const aborted: string[] = [];
const ignored = new Set<string>();

// Superset's frontend loads a Scarf "pixel" (usage telemetry) from the internet on every page; its
// own Content-Security-Policy (img-src 'self') blocks it. Reported as ignored, never as an error.
const isTelemetry = (s: string): boolean => /\bscarf\.sh\/pixel\//.test(s);

interface StepResult {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
}
const steps: StepResult[] = [];

function watch(page: Page): void {
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !isTelemetry(msg.text())) {
      const loc = msg.location();
      consoleErrors.push(`${msg.text().slice(0, 300)}${loc.url ? ` (${short(loc.url)}:${loc.lineNumber})` : ''}`);
    }
  });
  page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${String(err.message).slice(0, 300)}`));
  page.on('requestfailed', (req) => {
    const why = req.failure()?.errorText ?? 'failed';
    if (isTelemetry(req.url())) return;
    // Requests still in flight when we move on to the next page are cancelled by Chromium
    // (ERR_ABORTED): counted apart, they are not the proxy's fault.
    if (why === 'net::ERR_ABORTED') {
      aborted.push(`${req.method()} ${short(req.url())}`);
      return;
    }
    failedRequests.push(`${req.method()} ${short(req.url())}: ${why}`);
  });
  page.on('request', (req) => {
    const u = req.url();
    if (!/^https?:/.test(u)) return; // data:, blob:
    if (isTelemetry(u)) {
      ignored.add(`${req.method()} ${u} (Superset's telemetry pixel; its own CSP blocks it)`);
      return;
    }
    const o = new URL(u).origin;
    if (o !== origin) offOrigin.add(`${req.method()} ${u}${req.isNavigationRequest() ? ' (navigation)' : ''}`);
  });
  page.on('response', (res) => {
    const u = res.url();
    if (res.status() >= 500 && u.startsWith(origin)) serverErrors.push(`${res.status()} ${res.request().method()} ${short(u)}`);
    // A redirect that names another origin (e.g. the replica's own host:port instead of the proxy's).
    const loc = res.headers()['location'];
    if (loc && res.status() >= 300 && res.status() < 400) {
      const target = new URL(loc, u);
      if (target.origin !== origin && u.startsWith(origin)) {
        offOrigin.add(`redirect ${res.status()} ${short(u)} -> ${target.href}`);
      }
    }
  });
}

async function step(name: string, fn: () => Promise<void>): Promise<boolean> {
  const t0 = performance.now();
  try {
    await fn();
    steps.push({ name, ok: true, ms: performance.now() - t0 });
    console.error(`[ui-check] ${name}: ok (${secs(performance.now() - t0)})`);
    return true;
  } catch (err) {
    const msg = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
    steps.push({ name, ok: false, ms: performance.now() - t0, error: msg });
    console.error(`[ui-check] ${name}: FAILED after ${secs(performance.now() - t0)}: ${msg}`);
    return false;
  }
}

async function failShot(page: Page, name: string): Promise<void> {
  const file = path.join(outDir, `${name}-failed.png`);
  await page.screenshot({ path: file, timeout: 10_000 }).then(
    () => console.error(`[ui-check]   screenshot of the failure: ${file} (at ${short(page.url())})`),
    () => undefined,
  );
}

async function login(page: Page): Promise<void> {
  await page.goto(at('/login/'), { waitUntil: 'domcontentloaded' });
  // Superset 6 renders its login form with React (antd): inputs #username / #password.
  const user = page.locator('input#username, input[name="username"]').first();
  const pass = page.locator('input#password, input[name="password"], input[type="password"]').first();
  await user.fill(username);
  await pass.fill(password);
  await page.locator('button[type="submit"], input[type="submit"]').first().click();
  // Either we leave /login/, or Superset says no (a toast): fail at once with its words then.
  const rejected = page.getByText(/invalid (username|login)|try again/i).first();
  const outcome = await Promise.race([
    page.waitForURL((u) => !u.pathname.startsWith('/login'), { waitUntil: 'domcontentloaded' }).then(() => 'left' as const),
    rejected.waitFor({ state: 'visible' }).then(() => 'rejected' as const),
  ]);
  if (outcome === 'rejected') {
    throw new Error(`login rejected: "${(await rejected.textContent({ timeout: 1_000 }).catch(() => ''))?.trim()}"`);
  }
  if (new URL(page.url()).origin !== origin) throw new Error(`login left the proxy's origin: ${page.url()}`);
  // The welcome page (the index redirects there for a logged-in user).
  await page.waitForURL(/\/superset\/welcome\/?/, { waitUntil: 'domcontentloaded' });
  await page.getByText(/^(Home|Recents|Dashboards|Charts)$/).first().waitFor({ state: 'visible' });
  await settle(page);
}

async function dashboardList(page: Page): Promise<void> {
  await page.goto(at('/dashboard/list/'), { waitUntil: 'domcontentloaded' });
  if (new URL(page.url()).pathname.startsWith('/login')) throw new Error('sent back to /login/: the session did not stick');
  await page.getByRole('link', { name: 'Sales', exact: true }).first().waitFor({ state: 'visible' });
  await settle(page);
  await page.screenshot({ path: path.join(outDir, 'dashboard-list.png') });
}

async function dashboard(page: Page): Promise<void> {
  await page.goto(at('/superset/dashboard/sales/'), { waitUntil: 'domcontentloaded' });
  if (new URL(page.url()).pathname.startsWith('/login')) throw new Error('sent back to /login/: the session did not stick');
  await page.getByText('Sales by region', { exact: true }).first().waitFor({ state: 'visible' });
  // The table chart has rendered its rows once a cell reads "north". (Its <td role="cell"> are
  // aria-labelledby their column header, so their accessible name is "region", not the value.)
  await page.locator('td').filter({ hasText: /^\s*north\s*$/ }).first().waitFor({ state: 'visible' });
  await settle(page);
  await page.screenshot({ path: path.join(outDir, 'dashboard.png') });
}

// Let spinners and late requests finish before a screenshot, but never wait long for it.
async function settle(page: Page): Promise<void> {
  await page.waitForLoadState('networkidle', { timeout: 5_000 }).catch(() => undefined);
}

async function main(): Promise<number> {
  mkdirSync(outDir, { recursive: true });
  const t0 = performance.now();
  let browser: Browser | undefined;
  try {
    // launch() gives Chromium a fresh temporary user-data dir and removes it on close. The
    // background-networking flags keep Chromium from dialling out (this machine's network is closed).
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      timeout: stepTimeout,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-proxy-server',
      ],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(stepTimeout);
    context.setDefaultNavigationTimeout(stepTimeout);
    const page = await context.newPage();
    watch(page);

    const plan: [string, (p: Page) => Promise<void>][] = [
      ['login', login],
      ['dashboard-list', dashboardList],
      ['dashboard', dashboard],
    ];
    for (const [name, fn] of plan) {
      // Each step is bounded as a whole too, not only each of its waits.
      const ok = await step(name, () => withDeadline(fn(page), stepTimeout + 5_000, name));
      if (!ok) {
        await failShot(page, name);
        break;
      }
    }
    await context.close();
  } catch (err) {
    steps.push({ name: 'browser', ok: false, ms: 0, error: err instanceof Error ? err.message.split('\n')[0] : String(err) });
    console.error(`[ui-check] browser: FAILED: ${steps.at(-1)?.error}`);
  } finally {
    await browser?.close().catch(() => undefined);
  }

  for (const [label, list] of [
    ['console error', consoleErrors],
    ['failed request', failedRequests],
    ['5xx answer', serverErrors],
    ['off-origin request', [...offOrigin]],
    ['aborted (page left before it finished)', aborted],
    ['ignored', [...ignored]],
  ] as const) {
    for (const item of list) console.error(`[ui-check] ${label}: ${item}`);
  }

  const passed = steps.filter((s) => s.ok).length;
  const allOk = passed === 3 && steps.every((s) => s.ok);
  const noise = consoleErrors.length + failedRequests.length + serverErrors.length + offOrigin.size;
  const ok = allOk && (!strict || noise === 0);
  const timings = steps.map((s) => `${s.name} ${secs(s.ms)}${s.ok ? '' : ' FAILED'}`).join(', ');
  console.log(
    `ui-check ${ok ? 'OK' : 'FAILED'}: ${passed}/3 pages loaded via ${origin} (${timings}; total ${secs(performance.now() - t0)}); ` +
      `console errors ${consoleErrors.length}, failed requests ${failedRequests.length}, 5xx ${serverErrors.length}, ` +
      `off-origin ${offOrigin.size} (ignored: ${aborted.length} aborted, ${ignored.size} telemetry); screenshots in ${outDir}`,
  );
  return ok ? 0 : 1;
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: step did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

process.exitCode = await main();
