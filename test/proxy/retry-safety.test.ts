import fc from 'fast-check';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyRoute } from '../../src/routing/route-table.ts';
import { metricValue, startProxy, type ProxyUnderTest } from '../support/proxy-harness.ts';
import { FakeUpstream, type UpstreamMode } from '../support/upstream.ts';

// Property: whatever mix of failing replicas a request meets, an unsafe request reaches at most one replica,
// and no request reaches more replicas than the attempt limit.
describe('retry safety against failing upstreams (property)', () => {
  let live: FakeUpstream[];
  let dead: FakeUpstream;
  let p: ProxyUnderTest;

  beforeAll(async () => {
    live = await Promise.all(['a', 'b', 'c'].map((id) => new FakeUpstream(id).start()));
    dead = await new FakeUpstream('dead').start();
    await dead.kill(); // connections to it are refused
    p = await startProxy([...live, dead], {
      proxy: { headersTimeoutMs: 200 },
      // Ejection would hide replicas from later cases; the property is about a single request.
      table: { outlier: { consecutiveFailures: 10_000, baseEjectionMs: 1000, maxEjectionMs: 1000 } },
    });
  });
  afterAll(async () => {
    await p.close();
    for (const u of live) await u.close();
  });

  const modes = fc.constantFrom<UpstreamMode>('ok', 'status503', 'status500', 'reset-before-headers', 'hang');
  const target = fc.constantFrom(
    ['GET', '/api/v1/dashboard/'],
    ['POST', '/api/v1/chart/data'],
    ['POST', '/superset/explore_json/'],
    ['POST', '/api/v1/sqllab/execute/'],
    ['PUT', '/api/v1/chart/9'],
    ['DELETE', '/api/v1/dashboard/9'],
  );

  it('holds over random failure mixes', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.tuple(modes, modes, modes), target, async (ms, [method, path]) => {
        live.forEach((u, i) => (u.mode = ms[i]!));
        const id = `req-${n++}`;
        const res = await request(`${p.url}${path}`, { method: method as 'GET', ...(method === 'GET' ? {} : { body: id }), headers: { 'x-id': id } });
        await res.body.text();
        const reached = live.reduce((sum, u) => sum + u.count((r) => r.headers['x-id'] === id), 0);
        if (classifyRoute(method, path) === 'unsafe') expect(reached).toBeLessThanOrEqual(1);
        expect(reached).toBeLessThanOrEqual(3);
        if (ms.every((m) => m === 'ok')) expect(res.statusCode).toBe(200);
      }),
      { numRuns: 60 },
    );
  }, 60_000);

  it('holds with hedging on and replicas failing under requests in flight (rescue)', async () => {
    const hp = await startProxy([...live, dead], {
      proxy: { headersTimeoutMs: 400, hedge: { routes: ['idempotent', 'read-query'], delayMs: 20 } },
      table: { outlier: { consecutiveFailures: 10_000, baseEjectionMs: 1000, maxEjectionMs: 1000 } },
    });
    try {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.tuple(modes, modes, modes),
          fc.tuple(fc.nat(60), fc.nat(60), fc.nat(60)),
          target,
          fc.option(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.nat(40))),
          async (ms, delays, [method, path], failing) => {
            live.forEach((u, i) => {
              u.mode = ms[i]!;
              u.delayMs = delays[i]!;
            });
            const id = `hedge-${n++}`;
            const pending = request(`${hp.url}${path}`, { method: method as 'GET', ...(method === 'GET' ? {} : { body: id }), headers: { 'x-id': id } });
            let downTimer: NodeJS.Timeout | undefined;
            if (failing) downTimer = setTimeout(() => hp.table.setDown(failing[0], true), failing[1]);
            const res = await pending;
            await res.body.text();
            clearTimeout(downTimer);
            for (const u of live) hp.table.setDown(u.id, false);
            const reached = live.reduce((sum, u) => sum + u.count((r) => r.headers['x-id'] === id), 0);
            if (classifyRoute(method, path) === 'unsafe') expect(reached).toBeLessThanOrEqual(1);
            expect(reached).toBeLessThanOrEqual(3);
          },
        ),
        { numRuns: 60 },
      );
      // The property met what it is about: backup requests and rescues really happened.
      expect(await metricValue(hp.metrics, 'superset_ha_hedges_total')).toBeGreaterThan(0);
      expect(await metricValue(hp.metrics, 'superset_ha_rescued_requests_total')).toBeGreaterThan(0);
    } finally {
      for (const u of live) u.delayMs = 0;
      await hp.close();
    }
  }, 60_000);
});
