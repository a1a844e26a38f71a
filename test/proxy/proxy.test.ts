import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeUpstream } from '../support/upstream.ts';
import { metricValue, proxyWithUpstreams, startProxy, type ProxyUnderTest } from '../support/proxy-harness.ts';

async function get(url: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}) {
  const res = await request(url, { method: (init.method ?? 'GET') as 'GET', body: init.body, headers: init.headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

/** A raw WebSocket upgrade request on its own socket; `text()` is everything received so far. */
function upgrade(url: string): { sock: Socket; text: () => string } {
  const sock = connect(Number(new URL(url).port), '127.0.0.1');
  const data: Buffer[] = [];
  sock.on('data', (d: Buffer) => data.push(d));
  sock.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  return { sock, text: () => Buffer.concat(data).toString() };
}

describe('proxy', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  const setup = (n: number, over: Parameters<typeof startProxy>[1] = {}): Promise<{ ups: FakeUpstream[]; p: ProxyUnderTest }> =>
    proxyWithUpstreams(Array.from({ length: n }, (_, i) => `u${i}`), over, cleanups);

  it('forwards method, path, query and body; keeps cookies and redirects; strips hop-by-hop; adds X-Forwarded-*', async () => {
    const { ups, p } = await setup(1);
    // node:http, since undici (rightly) refuses to send hop-by-hop headers itself.
    const r = await new Promise<{ status: number; headers: IncomingHttpHeaders; text: string }>((resolve, reject) => {
      const req = httpRequest(`${p.url}/api/v1/chart/?q=(page:0)`, {
        headers: { cookie: 'session=xyz', 'x-forwarded-for': '10.0.0.1', 'keep-alive': 'timeout=9', connection: 'keep-alive, x-private', 'x-private': 'secret' },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toMatchObject({ upstream: 'u0', method: 'GET', url: '/api/v1/chart/?q=(page:0)' });
    expect(r.headers['set-cookie']).toEqual(['session=abc; HttpOnly; Path=/', 'csrf=1; Path=/']);
    expect(r.headers['keep-alive']).not.toBe('timeout=77'); // the upstream's hop-by-hop header is not passed on
    expect(r.headers['x-upstream']).toBe('u0');
    const seen = ups[0]!.received[0]!;
    expect(seen.headers.cookie).toBe('session=xyz');
    expect(seen.headers['x-forwarded-for']).toBe('10.0.0.1, 127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe(new URL(p.url).host);
    expect(seen.headers.host).toBe(new URL(p.url).host);
    expect(seen.headers['x-private']).toBeUndefined();
    expect(seen.headers['keep-alive']).toBeUndefined();

    const redirect = await get(`${p.url}/redirect`);
    expect(redirect.status).toBe(302);
    expect(redirect.headers.location).toBe('/superset/welcome/');
    expect(redirect.headers['set-cookie']).toHaveLength(2);

    const post = await get(`${p.url}/api/v1/chart/data`, { method: 'POST', body: '{"queries":[]}', headers: { 'content-type': 'application/json' } });
    expect(post.status).toBe(200);
    expect(ups[0]!.received.at(-1)!.body).toBe('{"queries":[]}');
  });

  it('answers 503 with Retry-After and a JSON reason when no replica is live', async () => {
    const { p } = await setup(0);
    const r = await get(`${p.url}/superset/welcome/`);
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('5');
    expect(r.json()).toMatchObject({ error: 'SHA_PROXY_NO_REPLICA' });
    expect(await metricValue(p.metrics, 'superset_ha_proxy_errors_total', { code: 'SHA_PROXY_NO_REPLICA' })).toBe(1);
  });

  it('retries a refused connection on another replica, for any method (never sent)', async () => {
    const { ups, p } = await setup(2, { table: { balance: { localId: 'u0' } } }); // tried first until ejected
    await ups[0]!.kill();
    for (let i = 0; i < 10; i++) {
      const r = await get(`${p.url}/api/v1/sqllab/execute/`, { method: 'POST', body: `{"n":${i}}`, headers: { 'content-type': 'application/json' } });
      expect(r.status).toBe(200);
    }
    expect(ups[1]!.count((r) => r.url === '/api/v1/sqllab/execute/')).toBe(10);
    expect(await metricValue(p.metrics, 'superset_ha_retries_total', { reason: 'not_sent' })).toBeGreaterThan(0);
    expect(await metricValue(p.metrics, 'superset_ha_failovers_total')).toBeGreaterThan(0);
  });

  it.each(['status503', 'reset-before-headers'] as const)('retries GET and chart-data after %s on another replica', async (mode) => {
    // The bad replica is "local", so every request tries it first; ejection is off for the test.
    const { ups, p } = await setup(2, { table: { balance: { localId: 'u0' }, outlier: { consecutiveFailures: 1000, baseEjectionMs: 1000, maxEjectionMs: 1000 } } });
    ups[0]!.mode = mode;
    for (let i = 0; i < 5; i++) {
      expect((await get(`${p.url}/api/v1/dashboard/`)).json().upstream).toBe('u1');
      expect((await get(`${p.url}/api/v1/chart/data`, { method: 'POST', body: '{}' })).json().upstream).toBe('u1');
      expect((await get(`${p.url}/superset/explore_json/`, { method: 'POST', body: 'form_data={}' })).json().upstream).toBe('u1');
    }
    const reason = mode === 'status503' ? 'status_503' : 'reset';
    expect(await metricValue(p.metrics, 'superset_ha_retries_total', { reason })).toBe(15);
    expect(await metricValue(p.metrics, 'superset_ha_failovers_total')).toBe(15);
    expect(ups[0]!.received).toHaveLength(15);
  });

  it('never replays SQL Lab execute or a write once it may have reached a replica', async () => {
    const { ups, p } = await setup(2, { table: { balance: { localId: 'u0' }, outlier: { consecutiveFailures: 1000, baseEjectionMs: 1000, maxEjectionMs: 1000 } } });
    ups[0]!.mode = 'reset-before-headers';
    for (let i = 0; i < 5; i++) {
      const r = await get(`${p.url}/api/v1/sqllab/execute/`, { method: 'POST', body: `{"sql":"select ${i}"}` });
      expect(r.status).toBe(502);
      expect(r.json()).toMatchObject({ error: 'SHA_PROXY_NOT_REPLAYED', replica: 'u0', route: 'unsafe' });
      for (const [method, path] of [['PUT', '/api/v1/chart/7'], ['DELETE', '/api/v1/dashboard/3'], ['POST', '/api/v1/database/'], ['PATCH', '/api/v1/x']]) {
        expect((await get(`${p.url}${path}`, { method, body: `{"w":${i}}` })).status).toBe(502);
      }
    }
    expect(ups[1]!.received).toHaveLength(0);
    expect(ups[0]!.received).toHaveLength(25);
    expect(await metricValue(p.metrics, 'superset_ha_retries_total')).toBe(0);
    expect(await metricValue(p.metrics, 'superset_ha_proxy_errors_total', { code: 'SHA_PROXY_NOT_REPLAYED' })).toBe(25);
    // A 503 answer to an unsafe request goes to the client as it is.
    ups[0]!.mode = 'status503';
    expect((await get(`${p.url}/api/v1/sqllab/execute/`, { method: 'POST', body: '{}' })).status).toBe(503);
    expect(ups[1]!.received).toHaveLength(0);
  });

  it('a response broken off mid-body is held back and retried for a safe request', async () => {
    const { ups, p } = await setup(2, { table: { balance: { localId: 'u0' }, outlier: { consecutiveFailures: 1000, baseEjectionMs: 1000, maxEjectionMs: 1000 } } });
    ups[0]!.mode = 'reset-mid-body';
    for (let i = 0; i < 3; i++) {
      expect((await get(`${p.url}/api/v1/dashboard/`)).json().upstream).toBe('u1');
      expect((await get(`${p.url}/api/v1/chart/data`, { method: 'POST', body: '{}' })).json().upstream).toBe('u1');
    }
    expect(ups[0]!.received).toHaveLength(6);
    expect(await metricValue(p.metrics, 'superset_ha_retries_total', { reason: 'reset' })).toBe(6);
  });

  it('an unsafe request, or a response larger than the hold limit, streams: a mid-body failure cuts the client off, never answers twice', async () => {
    const { ups, p } = await setup(2, { table: { balance: { localId: 'u0' } } });
    ups[0]!.mode = 'reset-mid-body';
    await expect(get(`${p.url}/api/v1/sqllab/execute/`, { method: 'POST', body: '{"sql":"select 1"}' })).rejects.toThrow();
    expect(ups[0]!.received).toHaveLength(1);
    expect(ups[1]!.received).toHaveLength(0);

    const small = await startProxy(ups, { proxy: { holdResponseBytes: 4 }, table: { balance: { localId: 'u0' } } });
    cleanups.push(() => small.close());
    await expect(get(`${small.url}/api/v1/dashboard/`)).rejects.toThrow();
    expect(ups[0]!.received).toHaveLength(2);
    expect(ups[1]!.received).toHaveLength(0);
  });

  it('a hung replica: requests time out and move on; it is ejected, then probed back when it recovers', async () => {
    // The hung replica is "local", so every request tries it first until it is ejected: deterministic.
    const { ups, p } = await setup(2, { proxy: { headersTimeoutMs: 300 }, table: { balance: { localId: 'u0' } } });
    const [hung, good] = ups as [FakeUpstream, FakeUpstream];
    hung.mode = 'hang';
    const started = Date.now();
    for (let i = 0; i < 12; i++) expect((await get(`${p.url}/api/v1/dashboard/${i}`)).status).toBe(200);
    expect(await metricValue(p.metrics, 'superset_ha_ejections_total', { replica: 'u0' })).toBe(1);
    expect(await metricValue(p.metrics, 'superset_ha_retries_total', { reason: 'timeout' })).toBe(3);
    // undici's timers tick coarsely (up to ~1 s late for short timeouts): bound generously.
    expect(Date.now() - started).toBeLessThan(3 * (300 + 1000) + 2000);
    const ejectedHits = hung.received.length;
    for (let i = 0; i < 10; i++) expect((await get(`${p.url}/api/v1/dashboard/`)).status).toBe(200);
    expect(hung.received.length).toBe(ejectedHits); // ejected: no traffic
    // It recovers; once the ejection (1 s) runs out it takes traffic again.
    hung.mode = 'ok';
    await new Promise((r) => setTimeout(r, 1100));
    for (let i = 0; i < 20; i++) expect((await get(`${p.url}/api/v1/dashboard/`)).status).toBe(200);
    expect(hung.answered).toBeGreaterThan(0);
    expect(good.answered).toBeGreaterThan(0);
  });

  it('never ejects more than the cap: with every replica failing, traffic still flows (fail open)', async () => {
    const { ups, p } = await setup(2);
    for (const u of ups) u.mode = 'status500';
    for (let i = 0; i < 20; i++) expect((await get(`${p.url}/api/v1/dashboard/`)).status).toBe(500);
    expect(await metricValue(p.metrics, 'superset_ha_ejections_total')).toBe(1);
    for (const u of ups) expect(u.received.length).toBeGreaterThan(0);
  });

  it('gives up when the retry budget is spent, with its own code', async () => {
    const { ups, p } = await setup(2, { budget: { ratio: 0, minPerSec: 0.2, windowMs: 10_000 } }); // 2 retries per window
    ups[0]!.mode = 'reset-before-headers';
    ups[1]!.mode = 'reset-before-headers';
    const codes: unknown[] = [];
    for (let i = 0; i < 6; i++) codes.push((await get(`${p.url}/api/v1/dashboard/`)).json().error);
    expect(codes).toContain('SHA_PROXY_RETRY_BUDGET_EXHAUSTED');
    expect(await metricValue(p.metrics, 'superset_ha_retries_total')).toBe(2);
    expect(await metricValue(p.metrics, 'superset_ha_retry_budget_exhausted_total')).toBeGreaterThan(0);
  });

  it('does not replay a body larger than the replay buffer', async () => {
    const { ups, p } = await setup(2, { proxy: { maxReplayBodyBytes: 1024 } });
    ups[0]!.mode = 'status503';
    ups[1]!.mode = 'status503';
    const big = JSON.stringify({ form_data: 'x'.repeat(5000) });
    const r = await get(`${p.url}/api/v1/chart/data`, { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(503);
    expect(ups[0]!.received.length + ups[1]!.received.length).toBe(1);
    expect((ups[0]!.received[0] ?? ups[1]!.received[0])!.body).toBe(big);
    // Small bodies are replayed.
    const small = await get(`${p.url}/api/v1/chart/data`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(small.status).toBe(503);
    expect(ups[0]!.received.length + ups[1]!.received.length).toBe(3);
  });

  it('keeps the upstream idle timeout below the upstream’s, so closed keep-alive sockets cause no errors', async () => {
    const ups = [await new FakeUpstream('ka', { keepAliveTimeoutMs: 300 }).start()];
    cleanups.push(() => ups[0]!.close());
    const p = await startProxy(ups, { table: { pool: { connections: 4, connectTimeoutMs: 500, keepAliveMs: 150 } } });
    cleanups.push(() => p.close());
    for (let i = 0; i < 6; i++) {
      // Land requests right around the upstream's idle close.
      expect((await get(`${p.url}/api/v1/sqllab/execute/`, { method: 'POST', body: `{"i":${i}}` })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 280 + (i % 3) * 15));
    }
    expect(await metricValue(p.metrics, 'superset_ha_retries_total')).toBe(0);
    expect(ups[0]!.received).toHaveLength(6);
  });

  it('answers a WebSocket upgrade with 503 when no replica is live, and counts it', async () => {
    const { p } = await setup(0);
    const ws = upgrade(p.url);
    await expect.poll(ws.text).toContain('503 Service Unavailable');
    ws.sock.destroy();
    expect(await metricValue(p.metrics, 'superset_ha_proxy_errors_total', { code: 'SHA_PROXY_NO_REPLICA' })).toBe(1);
  });

  it('passes WebSocket upgrades through to a replica', async () => {
    const { p } = await setup(1);
    const ws = upgrade(p.url);
    await expect.poll(ws.text).toContain('101 Switching Protocols');
    ws.sock.write('ping-123');
    await expect.poll(ws.text).toContain('ping-123');
    expect(ws.text()).toContain('x-upstream: u0');
    ws.sock.destroy();
  });
});
