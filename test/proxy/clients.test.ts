import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { metricValue, proxyWithUpstreams, type startProxy, type ProxyUnderTest } from '../support/proxy-harness.ts';
import type { FakeUpstream } from '../support/upstream.ts';

// What real clients do: browsers abandon requests when users navigate away, permalinks make long URLs, and
// slow replicas are worth hedging around for reads. None of it may be held against a healthy replica.

describe('clients as they are', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  const setup = (n: number, over: Parameters<typeof startProxy>[1] = {}): Promise<{ ups: FakeUpstream[]; p: ProxyUnderTest }> =>
    proxyWithUpstreams(Array.from({ length: n }, (_, i) => `u${i}`), { ...over, table: { balance: { localId: 'u0' }, ...over.table } }, cleanups);

  it('requests the client abandons never count against the replica (no ejection, no upstream error)', async () => {
    const { ups, p } = await setup(2);
    ups[0]!.delayMs = 1000;
    const n = 8; // the harness ejects after 3 consecutive failures
    const results = await Promise.allSettled(
      Array.from({ length: n }, (_, i) => request(`${p.url}/api/v1/dashboard/${i}`, { signal: AbortSignal.timeout(300) }).then((r) => r.body.text())),
    );
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    await expect.poll(() => metricValue(p.metrics, 'superset_ha_client_aborts_total'), { timeout: 3000 }).toBe(n);
    expect(await metricValue(p.metrics, 'superset_ha_ejections_total')).toBe(0);
    const counted = await p.metrics.registry.getSingleMetric('superset_ha_upstream_requests_total')!.get();
    expect(counted.values.filter((v) => v.labels.code !== '200')).toEqual([]);
    expect(await metricValue(p.metrics, 'superset_ha_proxy_errors_total')).toBe(0);
    expect(p.table.upstreams.find((u) => u.id === 'u0')!.outlier.consecutiveFailures).toBe(0);
    // The healthy replica still takes its traffic.
    ups[0]!.delayMs = 0;
    const res = await request(`${p.url}/api/v1/chart/`);
    expect(JSON.parse(await res.body.text())).toMatchObject({ upstream: 'u0' });
  });

  it('serves a 32 KiB URL (Superset permalinks); beyond proxy.maxHeaderBytes answers 431 with its JSON error', async () => {
    const { ups, p } = await setup(1);
    const long = `/superset/explore/?form_data=${'x'.repeat(32 * 1024)}`;
    const ok = await request(`${p.url}${long}`);
    expect(ok.statusCode).toBe(200);
    await ok.body.text();
    expect(ups[0]!.received.at(-1)!.url).toBe(long);

    const tooLong = await request(`${p.url}/superset/explore/?form_data=${'x'.repeat(80 * 1024)}`);
    expect(tooLong.statusCode).toBe(431);
    expect(await tooLong.body.json()).toMatchObject({ error: 'SHA_PROXY_HEADERS_TOO_LARGE' });
    expect(await metricValue(p.metrics, 'superset_ha_proxy_errors_total', { code: 'SHA_PROXY_HEADERS_TOO_LARGE' })).toBe(1);
    expect(ups[0]!.received).toHaveLength(1);
  });

  it('hedging is off by default: a slow replica keeps the request', async () => {
    const { ups, p } = await setup(2);
    ups[0]!.delayMs = 1000;
    const t0 = performance.now();
    const res = await request(`${p.url}/api/v1/dashboard/1`);
    expect(JSON.parse(await res.body.text())).toMatchObject({ upstream: 'u0' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(950);
    expect(await metricValue(p.metrics, 'superset_ha_hedges_total')).toBe(0);
  });

  it('hedged reads: after hedge.delayMs the request also goes to another replica, the first answer wins', async () => {
    const { ups, p } = await setup(2, { proxy: { hedge: { routes: ['idempotent'], delayMs: 200 } } });
    ups[0]!.delayMs = 5000;
    const times: number[] = [];
    await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const t0 = performance.now();
        const res = await request(`${p.url}/api/v1/dashboard/${i}`);
        expect(JSON.parse(await res.body.text())).toMatchObject({ upstream: 'u1' });
        times.push(performance.now() - t0);
      }),
    );
    // Delay plus one normal answer (milliseconds here), not the slow replica's 5 s.
    expect(Math.max(...times)).toBeLessThan(200 + 800);
    expect(await metricValue(p.metrics, 'superset_ha_hedges_total', { route: 'idempotent' })).toBe(10);
    expect(await metricValue(p.metrics, 'superset_ha_hedge_wins_total', { route: 'idempotent' })).toBe(10);
    // A read-query (chart data) is not hedged unless configured: it would run the warehouse query twice.
    const t0 = performance.now();
    ups[0]!.delayMs = 600;
    const chart = await request(`${p.url}/api/v1/chart/data`, { method: 'POST', body: '{}' });
    expect(JSON.parse(await chart.body.text())).toMatchObject({ upstream: 'u0' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(550);
    expect(await metricValue(p.metrics, 'superset_ha_hedges_total')).toBe(10);
  });

  it('hedges share the retry budget: beyond it, requests wait for their first replica', async () => {
    const { ups, p } = await setup(2, {
      proxy: { hedge: { routes: ['idempotent'], delayMs: 100 } },
      budget: { ratio: 0.2, minPerSec: 0, windowMs: 10_000 },
    });
    ups[0]!.delayMs = 1500;
    const answeredBy = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const res = await request(`${p.url}/api/v1/dashboard/${i}`);
        return (JSON.parse(await res.body.text()) as { upstream: string }).upstream;
      }),
    );
    const hedges = await metricValue(p.metrics, 'superset_ha_hedges_total');
    expect(hedges).toBeGreaterThan(0);
    expect(hedges).toBeLessThanOrEqual(4); // 20 % of 20 requests
    expect(answeredBy.filter((u) => u === 'u1')).toHaveLength(hedges);
    expect(await metricValue(p.metrics, 'superset_ha_retry_budget_exhausted_total')).toBeGreaterThan(0);
  });
});
