import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics.ts';
import { Proxy } from '../../src/proxy/proxy.ts';
import { RetryBudget } from '../../src/routing/retry-budget.ts';
import { RoutingTable } from '../../src/routing/upstreams.ts';
import { metricValue, startProxy, type ProxyUnderTest } from '../support/proxy-harness.ts';
import { RawClient, exchange } from '../support/raw-client.ts';
import { FakeUpstream } from '../support/upstream.ts';

// The proxy as an HTTP edge, probed with raw sockets the way an attacker (or curl) writes requests, against
// real local upstreams that record what reached them.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FORGED =
  'X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Port: 444\r\nX-Forwarded-Prefix: /evil\r\n' +
  'Forwarded: for=6.6.6.6;host=evil.example;proto=https\r\nX-Real-IP: 6.6.6.6\r\nX-Forwarded-For: 6.6.6.6\r\n';

describe('proxy edge', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  async function setup(n: number, over: Parameters<typeof startProxy>[1] = {}): Promise<{ ups: FakeUpstream[]; p: ProxyUnderTest; port: number }> {
    const ups = await Promise.all(Array.from({ length: n }, (_, i) => new FakeUpstream(`u${i}`).start()));
    cleanups.push(async () => {
      for (const u of ups) await u.close();
    });
    const p = await startProxy(ups, over);
    cleanups.push(() => p.close());
    return { ups, p, port: Number(new URL(p.url).port) };
  }

  /** Nothing the clients did was charged to a replica: no ejection, no upstream error, every attempt a 200. */
  async function expectNobodyBlamed(p: ProxyUnderTest): Promise<void> {
    expect(await metricValue(p.metrics, 'superset_ha_ejections_total')).toBe(0);
    const attempts = (await p.metrics.registry.getSingleMetric('superset_ha_upstream_requests_total')!.get()).values;
    expect(attempts.filter((s) => s.labels.code !== '200')).toEqual([]);
    for (const u of p.table.upstreams) expect(u.outlier.isEjected(Date.now())).toBe(false);
  }

  describe('forwarded headers', () => {
    it('from an untrusted peer, forged X-Forwarded-*, Forwarded and X-Real-IP are replaced by what the sidecar saw', async () => {
      const { ups, port } = await setup(1);
      const c = await exchange(port, `GET /api/v1/me/ HTTP/1.1\r\nHost: superset.example:8080\r\n${FORGED}Connection: close\r\n\r\n`);
      expect(c.statusLines).toEqual(['HTTP/1.1 200 OK']);
      const h = ups[0]!.received[0]!.headers;
      expect(h['x-forwarded-proto']).toBe('http');
      expect(h['x-forwarded-host']).toBe('superset.example:8080');
      expect(h.host).toBe('superset.example:8080');
      expect(h['x-forwarded-port']).toBeUndefined();
      expect(h['x-forwarded-prefix']).toBeUndefined();
      expect(h.forwarded).toBeUndefined();
      expect(h['x-real-ip']).toBeUndefined();
      // Appended, as always: Superset's ProxyFix believes only the last entry, which is ours.
      expect(h['x-forwarded-for']).toBe('6.6.6.6, 127.0.0.1');
    });

    it('from a trusted proxy (the ingress) they are kept; a CIDR that does not cover the peer trusts nothing', async () => {
      const { ups, port } = await setup(1, { server: { trustedProxies: ['10.0.0.0/8', '127.0.0.0/8'] } });
      await exchange(port, `GET /a HTTP/1.1\r\nHost: superset.example\r\n${FORGED}Connection: close\r\n\r\n`);
      const h = ups[0]!.received[0]!.headers;
      expect(h['x-forwarded-proto']).toBe('https');
      expect(h['x-forwarded-host']).toBe('evil.example');
      expect(h['x-forwarded-port']).toBe('444');
      expect(h['x-forwarded-prefix']).toBe('/evil');
      expect(h.forwarded).toBe('for=6.6.6.6;host=evil.example;proto=https');
      expect(h['x-real-ip']).toBe('6.6.6.6');
      expect(h['x-forwarded-for']).toBe('6.6.6.6, 127.0.0.1');

      const other = await startProxy(ups, { server: { trustedProxies: ['10.0.0.0/8', 'fd00::/8'] } });
      cleanups.push(() => other.close());
      await exchange(Number(new URL(other.url).port), `GET /b HTTP/1.1\r\nHost: superset.example\r\n${FORGED}Connection: close\r\n\r\n`);
      const h2 = ups[0]!.received[1]!.headers;
      expect([h2['x-forwarded-proto'], h2['x-forwarded-host'], h2['x-forwarded-prefix'], h2.forwarded]).toEqual(['http', 'superset.example', undefined, undefined]);
    });
  });

  describe('requests the client got wrong never count against a replica', () => {
    it('50 curl-style `Expect: 100-continue` uploads (replayable and streamed) get 100 then 200, and eject nobody', async () => {
      const { ups, p, port } = await setup(2);
      const sizes = [2 * 1024, 200 * 1024]; // below and above the harness's 64 KiB replay buffer
      for (let batch = 0; batch < 10; batch++) {
        await Promise.all(
          Array.from({ length: 5 }, async (_, j) => {
            const i = batch * 5 + j;
            const body = String.fromCharCode(97 + (i % 26)).repeat(sizes[i % 2]!);
            const c = new RawClient(port);
            cleanups.push(() => Promise.resolve(c.close()));
            c.write(`POST /api/v1/dataset/upload/${i} HTTP/1.1\r\nHost: a\r\nContent-Type: text/csv\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
            // As curl does: the body follows once the server says 100 Continue.
            await c.until((t) => t.includes('100 Continue'));
            c.write(body);
            await c.until((t) => RawClient.complete(t) && t.includes('HTTP/1.1 200'));
            expect(c.statusLines).toEqual(['HTTP/1.1 100 Continue', 'HTTP/1.1 200 OK']);
            c.close();
          }),
        );
      }
      const got = [...ups[0]!.received, ...ups[1]!.received];
      expect(got).toHaveLength(50);
      for (const r of got) {
        const i = Number(r.url.split('/').at(-1));
        expect(r.body.length).toBe(sizes[i % 2]);
        expect(r.body[0]).toBe(String.fromCharCode(97 + (i % 26)));
        expect(r.headers.expect).toBeUndefined();
      }
      await expectNobodyBlamed(p);
      expect(await metricValue(p.metrics, 'superset_ha_proxy_errors_total')).toBe(0);
    });

    it('any other expectation gets 417 from the listener and reaches no replica', async () => {
      const { ups, port } = await setup(1);
      const c = new RawClient(port);
      cleanups.push(() => Promise.resolve(c.close()));
      c.write('POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: teapot\r\n\r\nabc');
      await c.until((t) => t.includes('\r\n\r\n'));
      expect(c.statusLines).toEqual(['HTTP/1.1 417 Expectation Failed']);
      expect(ups[0]!.received).toHaveLength(0);
    });

    it('50 requests with a duplicated Host get 400 with a code, reach no replica, and eject nobody', async () => {
      const { ups, p, port } = await setup(2);
      for (let i = 0; i < 50; i++) {
        const c = await exchange(port, `GET /api/v1/dashboard/${i} HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n`);
        expect(c.statusLines).toEqual(['HTTP/1.1 400 Bad Request']);
        expect(c.json()).toMatchObject({ error: 'SHA_PROXY_BAD_REQUEST', reason: 'duplicate_host' });
        await c.closedWithin(2_000); // framing we refuse to interpret: the connection goes too
      }
      expect(ups[0]!.received.length + ups[1]!.received.length).toBe(0);
      expect(await metricValue(p.metrics, 'superset_ha_proxy_errors_total', { code: 'SHA_PROXY_BAD_REQUEST' })).toBe(50);
      await expectNobodyBlamed(p);
      // Both replicas still take traffic.
      for (let i = 0; i < 20; i++) expect((await exchange(port, 'GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')).statusLines).toEqual(['HTTP/1.1 200 OK']);
      expect(ups[0]!.received.length).toBeGreaterThan(0);
      expect(ups[1]!.received.length).toBeGreaterThan(0);
    });

    it('the proxy alone (without the listener checks) maps undici refusing a request to 400, not to a replica failure', async () => {
      const ups = await Promise.all([new FakeUpstream('u0').start(), new FakeUpstream('u1').start()]);
      // Each request undici refuses leaves one pool client marked busy for good (undici 8: Pool treats the
      // refused dispatch as backpressure and that client never drains), so the pools here are larger than
      // the requests sent; the listener's own checks keep such requests from reaching undici at all.
      const table = new RoutingTable({ pool: { connections: 64, connectTimeoutMs: 500, keepAliveMs: 1000 }, outlier: { consecutiveFailures: 3, baseEjectionMs: 1000, maxEjectionMs: 10_000 }, maxEjectedPercent: 50, balance: {} });
      table.update({ stale: false, readAt: Date.now(), held: [], replicas: ups.map((u) => ({ id: u.id, url: u.url, zone: 'default', weight: 100, version: 't', startedAt: new Date().toISOString() })) });
      const proxy = new Proxy(table, new RetryBudget({ ratio: 1, minPerSec: 100, windowMs: 10_000 }), {
        maxAttempts: 3, backoff: { baseMs: 1, maxMs: 2 }, maxReplayBodyBytes: 1024, holdResponseBytes: 1024, headersTimeoutMs: 2000, bodyTimeoutMs: 2000, retryAfterS: 5, hedge: { routes: [], delayMs: 1000 },
      });
      const metrics = new Metrics({ processMetrics: false });
      metrics.observeProxy(proxy);
      metrics.observeRoutingTable(table);
      const server = createServer((req, res) => void proxy.handle(req, res));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      cleanups.push(async () => {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
        await table.close();
        for (const u of ups) await u.close();
      });
      const port = (server.address() as { port: number }).port;
      for (let i = 0; i < 20; i++) {
        const c = await exchange(port, 'GET /api/v1/chart/ HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n');
        expect(c.statusLines).toEqual(['HTTP/1.1 400 Bad Request']);
        expect(c.json()).toMatchObject({ error: 'SHA_PROXY_BAD_REQUEST', cause: 'UND_ERR_INVALID_ARG' });
      }
      expect(await metricValue(metrics, 'superset_ha_ejections_total')).toBe(0);
      expect(await metricValue(metrics, 'superset_ha_upstream_requests_total')).toBe(0);
      expect(await metricValue(metrics, 'superset_ha_retries_total')).toBe(0);
    });
  });

  describe('client-side body timeout', () => {
    it('bodies trickling at 1 byte/s are cut with 408 at the deadline, and the upstream connection is let go', async () => {
      const timeoutMs = 1_500;
      const { ups, p, port } = await setup(1, { server: { clientBody: { timeoutMs, minBytesPerSec: 500 } } });
      const up = ups[0]!;
      // One body below the replay limit (buffered by the proxy: no upstream yet) and one above it (streamed:
      // the upstream connection is held while it trickles).
      const clients = [1_000, 100_000].map((len, i) => {
        const c = new RawClient(port);
        cleanups.push(() => Promise.resolve(c.close()));
        c.write(`POST /api/v1/dataset/upload/${i} HTTP/1.1\r\nHost: a\r\nContent-Type: text/csv\r\nContent-Length: ${len}\r\n\r\n`);
        return c;
      });
      const started = Date.now();
      const drip = setInterval(() => clients.forEach((c) => c.write('x')), 1_000);
      cleanups.push(() => Promise.resolve(clearInterval(drip)));
      await sleep(700);
      expect(up.openConnections).toBe(1); // the streamed upload holds one
      const closedAt = await Promise.all(clients.map((c) => c.closedWithin(timeoutMs + 3_000)));
      for (const [i, c] of clients.entries()) {
        expect(c.statusLines).toEqual(['HTTP/1.1 408 Request Timeout']);
        expect(c.json()).toMatchObject({ error: 'SHA_PROXY_CLIENT_BODY_TIMEOUT', timeoutMs, minBytesPerSec: 500 });
        // At the deadline (plus the 2 ms per byte the rate allows), not before.
        expect(closedAt[i]! - started).toBeGreaterThanOrEqual(timeoutMs);
        expect(closedAt[i]! - started).toBeLessThan(timeoutMs + 2_000);
      }
      await expect.poll(() => up.openConnections, { timeout: 2_000 }).toBe(0);
      expect(up.received).toHaveLength(0); // the upstream never got a request to answer
      expect(await metricValue(p.metrics, 'superset_ha_proxy_errors_total', { code: 'SHA_PROXY_CLIENT_BODY_TIMEOUT' })).toBe(2);
      expect(await metricValue(p.metrics, 'superset_ha_upstream_requests_total')).toBe(0);
      expect(await metricValue(p.metrics, 'superset_ha_ejections_total')).toBe(0);
    });

    it('a large upload that keeps moving outlives the base deadline (the rate extends it)', async () => {
      const { ups, p, port } = await setup(1, { server: { clientBody: { timeoutMs: 1_000, minBytesPerSec: 500 } } });
      const chunk = 'y'.repeat(16 * 1024);
      const c = new RawClient(port);
      cleanups.push(() => Promise.resolve(c.close()));
      c.write(`POST /api/v1/upload HTTP/1.1\r\nHost: a\r\nContent-Length: ${chunk.length * 10}\r\nConnection: close\r\n\r\n`);
      for (let i = 0; i < 10; i++) {
        c.write(chunk);
        await sleep(250); // 2.5 s in all at ~64 KiB/s
      }
      await c.until((t) => RawClient.complete(t));
      expect(c.statusLines).toEqual(['HTTP/1.1 200 OK']);
      expect(ups[0]!.received[0]!.body.length).toBe(chunk.length * 10);
      expect(await metricValue(p.metrics, 'superset_ha_proxy_errors_total')).toBe(0);
    });
  });

  describe('upgrades', () => {
    it('h2c upgrade attempts (curl --http2 over plain HTTP) are served as HTTP/1.1; WebSocket still upgrades', async () => {
      const { ups, port } = await setup(1);
      const get = await exchange(port, 'GET /api/v1/dashboard/ HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/8\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n');
      expect(get.statusLines).toEqual(['HTTP/1.1 200 OK']);
      expect(get.json()).toMatchObject({ upstream: 'u0', url: '/api/v1/dashboard/' });
      const post = await exchange(port, 'POST /api/v1/chart/data HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\nContent-Length: 7\r\n\r\n{"a":1}');
      expect(post.statusLines).toEqual(['HTTP/1.1 200 OK']);
      for (const r of ups[0]!.received) {
        expect(r.headers.upgrade).toBeUndefined();
        expect(r.headers['http2-settings']).toBeUndefined();
      }
      expect(ups[0]!.received[1]!.body).toBe('{"a":1}');

      const ws = new RawClient(port);
      cleanups.push(() => Promise.resolve(ws.close()));
      ws.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
      await ws.until((t) => t.includes('\r\n\r\n'));
      expect(ws.statusLines).toEqual(['HTTP/1.1 101 Switching Protocols']);
      ws.write('ping-7');
      expect(await ws.until((t) => t.includes('ping-7'))).toContain('ping-7');
    });
  });

  describe('framing', () => {
    it('an HTTP/1.0 request with Transfer-Encoding is answered, then its connection closed (RFC 9112 §6.1)', async () => {
      const { ups, port } = await setup(1);
      const c = await exchange(port, 'POST /te HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
      expect(c.statusLines).toEqual(['HTTP/1.1 200 OK']);
      await c.closedWithin(1_000);
      expect(ups[0]!.received[0]!.body).toBe('abc');
      // Control: HTTP/1.0 keep-alive without Transfer-Encoding stays open.
      const ka = await exchange(port, 'POST /cl HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc');
      expect(ka.statusLines).toEqual(['HTTP/1.1 200 OK']);
      await sleep(300);
      expect(ka.closed).toBe(false);
      ka.close();
    });

    // Request smuggling: every CL/TE ambiguity is refused at the listener; nothing reaches a replica that the
    // proxy did not frame itself, and the bytes after the ambiguity are never read as a second request.
    it.each([
      ['CL.TE', 'POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 35\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nX: y\r\n\r\n'],
      ['TE.CL', 'POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n1e\r\nGET /smuggled HTTP/1.1\r\nX: y\r\n\r\n0\r\n\r\n'],
      ['TE.TE (chunked, then identity)', 'POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n'],
      ['TE list not ending in chunked', 'POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n'],
      ['TE obfuscated value', 'POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\nContent-Length: 3\r\n\r\nabcGET /smuggled HTTP/1.1\r\n\r\n'],
      ['space before the colon', 'POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\nabcGET /smuggled HTTP/1.1\r\n\r\n'],
      ['vertical tab before the value', 'POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n'],
      ['obs-fold continuation', 'POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n'],
      ['two different Content-Lengths', 'POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabcGET /smuggled HTTP/1.1\r\n\r\n'],
      ['Content-Length list', 'POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 30\r\n\r\nabcGET /smuggled HTTP/1.1\r\n\r\n'],
      ['bare LF in chunk framing', 'POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\nGET /smuggled HTTP/1.1\r\n\r\n'],
      ['chunk size overflow', 'POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF1\r\nabc\r\n0\r\n\r\n'],
      ['HTTP/1.0 CL.TE', 'POST /s HTTP/1.0\r\nHost: a\r\nContent-Length: 35\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nX: y\r\n\r\n'],
    ])('%s: 400 at the listener, nothing reaches a replica, the connection is closed', async (_name, bytes) => {
      const { ups, port } = await setup(1);
      const c = await exchange(port, Buffer.from(bytes, 'latin1'));
      expect(c.statusLines).toEqual(['HTTP/1.1 400 Bad Request']);
      await c.closedWithin(1_000);
      await sleep(50);
      expect(ups[0]!.received).toEqual([]);
    });

    it('well-formed chunked bodies (with a chunk extension and trailers) are forwarded whole', async () => {
      const { ups, port } = await setup(1);
      const c = await exchange(port, 'POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n');
      expect(c.statusLines).toEqual(['HTTP/1.1 200 OK']);
      expect(ups[0]!.received.map((r) => [r.url, r.body])).toEqual([['/c', 'abcde']]);
    });
  });
});
