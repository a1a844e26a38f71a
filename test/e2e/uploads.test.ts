import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../support/raw-client.ts';
import { RUN_DIR, superset } from '../support/realparts.ts';
import { sample, scrape } from '../support/scrape.ts';
import { Jar, call } from '../support/superset-client.ts';
import { ADMIN_PASSWORD, REPLICAS, startSidecars, startSuperset, waitLive, type Sidecar } from './superset-setup.ts';

// Uploads through the sidecar as curl sends them (Expect: 100-continue on any body over 1 KiB), against real
// Apache Superset with a browser session and its CSRF token: before issue 9 each one was answered 502 and
// charged to the replica.
describe('uploads through the sidecar into real Superset', () => {
  let sidecars: Sidecar[];
  let dashboardId: number;

  beforeAll(async () => {
    const s = await startSuperset();
    ({ sidecars } = await startSidecars(s.urls));
    await waitLive(sidecars, sidecars.map((c) => c.id));
    dashboardId = (JSON.parse(readFileSync(join(RUN_DIR, 'superset', 'seed.json'), 'utf8')) as { dashboard_id: number }).dashboard_id;
  });
  afterAll(async () => {
    for (const s of sidecars ?? []) await s.process.stop();
    if (process.env.SHA_KEEP_PARTS !== '1') await superset('stop');
  });

  /** Form login and the CSRF token, as the browser has them. */
  async function browserSession(base: string): Promise<{ jar: Jar; csrf: string }> {
    const jar = new Jar();
    const page = await call(base, '/login/', { jar });
    const token = /name="csrf_token"[^>]*value="([^"]+)"/.exec(page.text)?.[1] ?? /value="([^"]+)"[^>]*name="csrf_token"/.exec(page.text)?.[1];
    expect(token).toBeTruthy();
    const login = await call(base, '/login/', { method: 'POST', jar, form: { csrf_token: token!, username: 'admin', password: ADMIN_PASSWORD } });
    expect(login.status).toBe(302);
    const csrf = await call(base, '/api/v1/security/csrf_token/', { jar });
    expect(csrf.status).toBe(200);
    return { jar, csrf: (JSON.parse(csrf.text) as { result: string }).result };
  }

  it('a dashboard export re-imported with Expect: 100-continue succeeds on every replica, and nobody is ejected', async () => {
    const before = await Promise.all(sidecars.map((s) => scrape(s.admin)));
    for (let i = 0; i < 2 * REPLICAS; i++) {
      const sidecar = sidecars[i % REPLICAS]!;
      const { jar, csrf } = await browserSession(sidecar.proxy);
      const exported = await request(`${sidecar.proxy}/api/v1/dashboard/export/?q=!(${dashboardId})`, { headers: { cookie: jar.header() } });
      expect(exported.statusCode).toBe(200);
      const zip = Buffer.from(await exported.body.arrayBuffer());
      expect(zip.length).toBeGreaterThan(1024); // curl would send Expect: 100-continue for it

      const boundary = `----superset-ha-${i}`;
      const body = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="formData"; filename="dashboard.zip"\r\nContent-Type: application/zip\r\n\r\n`),
        zip,
        Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="overwrite"\r\n\r\ntrue\r\n--${boundary}--\r\n`),
      ]);
      const c = new RawClient(Number(new URL(sidecar.proxy).port));
      try {
        c.write(
          `POST /api/v1/dashboard/import/ HTTP/1.1\r\nHost: ${new URL(sidecar.proxy).host}\r\nUser-Agent: curl/8.14.1\r\nAccept: */*\r\n` +
            `Cookie: ${jar.header()}\r\nX-CSRFToken: ${csrf}\r\nReferer: ${sidecar.proxy}/dashboard/list/\r\n` +
            `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
        );
        await c.until((t) => t.includes('100 Continue'), 10_000);
        c.write(body);
        await c.until((t) => RawClient.complete(t) && !t.trimEnd().endsWith('100 Continue'), 60_000);
        expect(c.statusLines).toEqual(['HTTP/1.1 100 Continue', 'HTTP/1.1 200 OK']);
        expect(c.json()).toEqual({ message: 'OK' });
      } finally {
        c.close();
      }
    }
    // The dashboard is still there and whole after the imports.
    const { jar } = await browserSession(sidecars[0]!.proxy);
    const dash = await call(sidecars[0]!.proxy, `/api/v1/dashboard/${dashboardId}`, { jar });
    expect(dash.status).toBe(200);
    expect((JSON.parse(dash.text) as { result: { slug: string } }).result.slug).toBe('sales');

    for (const [i, s] of sidecars.entries()) {
      const after = await scrape(s.admin);
      const delta = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before[i]!, name, labels);
      expect(delta('superset_ha_ejections_total')).toBe(0);
      expect(delta('superset_ha_proxy_errors_total')).toBe(0);
      for (const code of ['502', '503', '504', 'UND_ERR_NOT_SUPPORTED', 'UND_ERR_INVALID_ARG']) expect(delta('superset_ha_upstream_requests_total', { code })).toBe(0);
    }
  });

  it('`curl --http2` over plain HTTP (an h2c upgrade request) is served as HTTP/1.1 by Superset', async () => {
    for (const s of sidecars) {
      const c = new RawClient(Number(new URL(s.proxy).port));
      try {
        c.write(`GET /health HTTP/1.1\r\nHost: ${new URL(s.proxy).host}\r\nUser-Agent: curl/8.14.1\r\nAccept: */*\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n`);
        const text = await c.until((t) => RawClient.complete(t), 10_000);
        expect(c.statusLines).toEqual(['HTTP/1.1 200 OK']);
        expect(text.endsWith('OK')).toBe(true);
      } finally {
        c.close();
      }
    }
  });
});
