import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { Watcher, testApp, testRoot } from '../support/harness.ts';
import { metricValue } from '../support/proxy-harness.ts';
import { readMix, runLoad } from '../support/load.ts';
import { zk } from '../support/realparts.ts';
import { UpstreamProcess } from '../support/upstream-process.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('router against real ZooKeeper membership', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  /** N upstream processes, each with an in-process registrar sidecar, and one router-only sidecar in front. */
  async function cluster(
    root: string,
    specs: { id: string; args?: string[]; router?: boolean }[],
    proxy: Record<string, unknown> = {},
    health = { intervalMs: 300, timeoutMs: 250, rise: 2, fall: 2 },
  ) {
    const ups = specs.map((s) => {
      const u = new UpstreamProcess(s.id, s.args);
      cleanups.push(() => u.stop());
      return u;
    });
    const registrars: App[] = [];
    for (const [i, u] of ups.entries()) {
      const { app } = testApp({
        root,
        id: u.id,
        supersetUrl: await u.url(),
        roles: { router: specs[i]!.router ?? false },
        health,
        shutdown: { drainDelayMs: 500, drainTimeoutMs: 3000 },
      });
      cleanups.push(() => app.close());
      await app.start();
      registrars.push(app);
    }
    const { app: router, lines } = testApp({
      root,
      id: 'router',
      supersetUrl: 'http://127.0.0.1:1',
      roles: { registrar: false, router: true },
      proxy: { headersTimeoutMs: 1000, ...proxy },
    });
    cleanups.push(() => router.close());
    await router.start();
    const watcher = new Watcher(root).start();
    cleanups.push(() => watcher.close());
    await watcher.until((ids) => specs.every((s) => ids.includes(s.id)));
    // Every sidecar that routes (the router, and registrars that also serve traffic) must have read the whole
    // set before load starts; until then it answers 503 and /readyz says so, as an ingress would see.
    for (const app of [router, ...registrars.filter((a) => a.table !== undefined)]) {
      await expect.poll(() => app.table!.upstreams.length, { timeout: 5000 }).toBe(specs.length);
    }
    const url = `http://127.0.0.1:${router.proxy!.address.port}`;
    return { ups, registrars, router, url, watcher, lines };
  }

  it('SIGKILL one of three replicas under load: zero failed responses; SQL Lab execute on it fails cleanly and is not replayed', async () => {
    const root = testRoot();
    const { ups, router, url, watcher } = await cluster(root, [
      { id: 'u0', args: ['delay=2'] },
      { id: 'u1', args: ['delay=2', '/api/v1/sqllab/execute/=hang'] },
      { id: 'u2', args: ['delay=2'] },
    ]);
    const victim = ups[1]!;
    // Send SQL Lab statements until one is held by the victim (u0/u2 answer them at once).
    const held: Promise<{ status: number; body: string; xid: string }>[] = [];
    for (let i = 0; i < 60 && victim.received.filter((r) => r.path === '/api/v1/sqllab/execute/').length === 0; i++) {
      const xid = `sql-${i}`;
      held.push(
        request(`${url}/api/v1/sqllab/execute/`, { method: 'POST', body: `{"sql":"select ${i}"}`, headers: { 'x-id': xid, 'content-type': 'application/json' } }).then(
          async (r) => ({ status: r.statusCode, body: await r.body.text(), xid }),
        ),
      );
      await sleep(20);
    }
    expect(victim.received.some((r) => r.path === '/api/v1/sqllab/execute/')).toBe(true);
    const heldXid = victim.received.find((r) => r.path === '/api/v1/sqllab/execute/')!.xid;

    let killedAt = 0;
    const load = runLoad(url, readMix, { workers: 8, maxRequests: 30_000, maxMs: 12_000, stop: () => killedAt > 0 && Date.now() - killedAt > 4000 });
    await sleep(700);
    victim.signal('SIGKILL');
    killedAt = Date.now();
    const result = await load;
    console.log(`[measure] SIGKILL 1 of 3 under load: ${result.sent} requests, ${result.failed} failed, statuses ${JSON.stringify([...result.byStatus])}`);
    expect(result.errors).toEqual([]);
    expect(result.failures).toEqual([]);
    expect(result.sent).toBeGreaterThan(200);

    const sql = await Promise.all(held);
    const victimSql = sql.find((s) => s.xid === heldXid)!;
    expect(victimSql.status).toBe(502);
    expect(JSON.parse(victimSql.body)).toMatchObject({ error: 'SHA_PROXY_NOT_REPLAYED', replica: 'u1' });
    for (const s of sql) if (s.xid !== heldXid) expect(s.status).toBe(200);
    // The held statement reached no other replica: it was not replayed.
    expect(ups.filter((u) => u !== victim).some((u) => u.received.some((r) => r.xid === heldXid))).toBe(false);

    await watcher.until((ids) => !ids.includes('u1'), 10_000);
    // The router's own membership session sees it moments after the watcher's, not at the same instant.
    await expect.poll(() => metricValue(router.metrics, 'superset_ha_replicas_live'), { timeout: 5000 }).toBe(2);
    const failovers = (await metricValue(router.metrics, 'superset_ha_failovers_total')) ?? 0;
    const retries = await router.metrics.registry.getSingleMetric('superset_ha_retries_total')!.get();
    console.log(`[measure] failovers ${failovers}, retries ${JSON.stringify(retries.values.map((v) => [v.labels.reason, v.value]))}`);
    expect(failovers).toBeGreaterThan(0);
  });

  it('a hung replica (SIGSTOP): requests time out and move on, it is ejected and deregistered, then comes back after SIGCONT', async () => {
    const root = testRoot();
    // Health checks slower than the proxy's timeout, so the proxy's own reaction is what this test sees first.
    const { ups, router, url, watcher } = await cluster(
      root,
      [{ id: 'h0' }, { id: 'h1' }],
      { headersTimeoutMs: 500, outlier: { consecutiveFailures: 1, baseEjectionMs: 2000, maxEjectionMs: 10_000, maxEjectedPercent: 50 } },
      { intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 4 },
    );
    const hung = ups[0]!;
    hung.signal('SIGSTOP');
    const result = await runLoad(url, readMix, { workers: 4, maxRequests: 100_000, maxMs: 2500 });
    expect(result.failures).toEqual([]);
    expect(result.errors).toEqual([]);
    const retries = await router.metrics.registry.getSingleMetric('superset_ha_retries_total')!.get();
    console.log(`[measure] hung replica: ${result.sent} requests, ${result.failed} failed; retries ${JSON.stringify(retries.values.map((v) => [v.labels.reason, v.value]))}`);
    expect(await metricValue(router.metrics, 'superset_ha_retries_total', { reason: 'timeout' })).toBeGreaterThanOrEqual(1);
    expect(await metricValue(router.metrics, 'superset_ha_ejections_total', { replica: 'h0' })).toBeGreaterThanOrEqual(1);
    await watcher.until((ids) => !ids.includes('h0'), 10_000); // its health check failed too
    hung.signal('SIGCONT');
    await watcher.until((ids) => ids.includes('h0'), 10_000);
    // Then the router must have it in its table, and not ejected (a short load could otherwise all go to h1).
    await expect
      .poll(() => router.table!.upstreams.some((u) => u.id === 'h0' && !u.outlier.isEjected(Date.now())), { timeout: 10_000 })
      .toBe(true);
    const before = hung.received.length;
    const again = await runLoad(url, readMix, { workers: 4, maxRequests: 200, maxMs: 4000 });
    expect(again.failed).toBe(0);
    expect(hung.received.length).toBeGreaterThan(before);
  });

  it('drain: zero failed requests while a replica drains under load; its requests in flight finish there (none rescued)', async () => {
    const root = testRoot();
    const { ups, registrars, url, watcher, router } = await cluster(root, [
      // Slow enough that requests are in flight on d0 when its znode goes.
      { id: 'd0', args: ['delay=300'], router: true },
      { id: 'd1', args: ['delay=20'] },
    ]);
    // d0's sidecar also serves traffic (as every sidecar does); an ingress stops sending once it is not ready.
    const d0 = registrars[0]!;
    const d0Ready = async () => (await request(`http://127.0.0.1:${d0.admin.address.port}/readyz`)).statusCode === 200;
    const d0Proxy = `http://127.0.0.1:${d0.proxy!.address.port}`;
    let d0Serving = true;
    const viaRouter = runLoad(url, readMix, { workers: 6, maxRequests: 2000, maxMs: 5000 });
    const viaD0 = runLoad(d0Proxy, readMix, { workers: 2, maxRequests: 2000, maxMs: 5000, stop: () => !d0Serving });
    await sleep(500);
    const closing = d0.close();
    while (await d0Ready().catch(() => false)) await sleep(20);
    d0Serving = false; // what the ingress does when readiness goes
    await closing;
    const [r, d] = await Promise.all([viaRouter, viaD0]);
    console.log(`[measure] drain under load: via router ${r.sent} sent / ${r.failed} failed; via the draining sidecar ${d.sent} sent / ${d.failed} failed`);
    expect(r.failures).toEqual([]);
    expect(r.errors).toEqual([]);
    expect(d.failures).toEqual([]);
    expect(d.errors).toEqual([]);
    expect(watcher.ids()).toEqual(['d1']);
    expect(ups[0]!.received.length).toBeGreaterThan(0);
    // The registrar marked its payload `draining` before deleting it: the router let d0 finish what it had.
    expect(await metricValue(router.metrics, 'superset_ha_rescued_requests_total')).toBe(0);
  });

  it('ZooKeeper paused: routing continues on the last known set and /replicas says stale', async () => {
    const root = testRoot();
    const { router, url } = await cluster(root, [{ id: 'z0' }, { id: 'z1' }]);
    const admin = `http://127.0.0.1:${router.admin.address.port}`;
    await zk('pause-all');
    try {
      await expect.poll(async () => ((await (await request(`${admin}/replicas`)).body.json()) as { live: { stale: boolean } }).live.stale, { timeout: 5000 }).toBe(true);
      const result = await runLoad(url, readMix, { workers: 4, maxRequests: 300, maxMs: 2000 });
      expect(result.failed).toBe(0);
      const view = (await (await request(`${admin}/replicas`)).body.json()) as { live: { stale: boolean; replicas: { id: string }[] }; routing: { id: string }[] };
      expect(view.live.replicas.map((r) => r.id)).toEqual(['z0', 'z1']);
      expect(view.routing.map((r) => r.id)).toEqual(['z0', 'z1']);
      expect(await metricValue(router.metrics, 'superset_ha_membership_stale')).toBe(1);
    } finally {
      await zk('resume-all');
    }
    await expect.poll(() => router.membership!.snapshot.stale, { timeout: 10_000 }).toBe(false);
  });
});
