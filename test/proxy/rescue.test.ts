import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { metricValue, proxyWithUpstreams, type startProxy, type ProxyUnderTest } from '../support/proxy-harness.ts';
import type { FakeUpstream } from '../support/upstream.ts';

// DESIGN.md invariant 8, at the proxy's production default timeouts (60 s headers and body): a request in
// flight on a replica that fails moves at once when it may; an unsafe one never moves; a draining replica
// keeps what it has. The table is fed by hand here; test/integration and test/e2e cover the same through
// real ZooKeeper membership and real Superset.
const PRODUCTION = { headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000 };

interface Answer {
  status: number;
  upstream: string | undefined;
  ms: number;
  error?: string;
}

function send(url: string, method: 'GET' | 'POST', path: string, body?: string): Promise<Answer> {
  const t0 = performance.now();
  return request(`${url}${path}`, { method, ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }) }).then(
    async (res) => {
      const text = await res.body.text();
      let upstream: string | undefined;
      try {
        upstream = (JSON.parse(text) as { upstream?: string }).upstream;
      } catch {
        upstream = undefined;
      }
      return { status: res.statusCode, upstream, ms: performance.now() - t0 };
    },
  );
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const replica = (u: FakeUpstream, state?: 'draining') => ({
  id: u.id,
  url: u.url,
  zone: 'default',
  weight: 100,
  version: 'test',
  startedAt: new Date().toISOString(),
  ...(state ? { state } : {}),
});

describe('rescue of requests in flight (production timeouts)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  async function setup(over: Parameters<typeof startProxy>[1] = {}): Promise<{ hung: FakeUpstream; good: FakeUpstream; p: ProxyUnderTest }> {
    // The hung replica is this sidecar's local one, so every request goes there first.
    const { ups, p } = await proxyWithUpstreams(['hung', 'good'], { proxy: PRODUCTION, table: { balance: { localId: 'hung' } }, ...over }, cleanups);
    const [hung, good] = ups as [FakeUpstream, FakeUpstream];
    hung.mode = 'hang';
    return { hung, good, p };
  }

  /** A GET, a chart-data read and a SQL Lab execute, all on the hung replica. */
  async function inFlight(p: ProxyUnderTest, hung: FakeUpstream) {
    const get = send(p.url, 'GET', '/api/v1/dashboard/1');
    const chart = send(p.url, 'POST', '/api/v1/chart/data', '{"queries":[]}');
    const execute = send(p.url, 'POST', '/api/v1/sqllab/execute/', '{"sql":"select 1"}');
    await until(() => hung.received.length === 3, 'three requests held by the hung replica');
    return { get, chart, execute };
  }

  it.each([
    ['the replica leaves the live set (deregistered or its session died)', 'left'],
    ['this sidecar finds its local replica unhealthy', 'unhealthy'],
  ] as const)('when %s, safe requests move at once and SQL Lab execute stays', async (_what, reason) => {
    const { hung, good, p } = await setup();
    const { get, chart, execute } = await inFlight(p, hung);
    const t0 = performance.now();
    if (reason === 'left') p.table.update({ stale: false, readAt: Date.now(), held: [], replicas: [replica(good)] });
    else p.table.setDown('hung', true);

    const [g, c] = await Promise.all([get, chart]);
    expect(g).toMatchObject({ status: 200, upstream: 'good' });
    expect(c).toMatchObject({ status: 200, upstream: 'good' });
    // Moved when the replica failed, not after the 60 s headers timeout.
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(await metricValue(p.metrics, 'superset_ha_rescued_requests_total', { reason })).toBe(2);
    // The execute may be running on the hung replica: it is never sent anywhere else, it waits for its answer.
    expect(good.count((r) => r.url.startsWith('/api/v1/sqllab/'))).toBe(0);
    hung.release(); // the replica resumes (SIGCONT) and answers
    expect(await execute).toMatchObject({ status: 200, upstream: 'hung' });
    expect(good.count((r) => r.url.startsWith('/api/v1/sqllab/'))).toBe(0);
    // The failed replica is not charged with the rescued requests as failures of its own.
    expect(await metricValue(p.metrics, 'superset_ha_ejections_total')).toBe(0);
  });

  it('when the replica is ejected for failing, requests still in flight there move', async () => {
    const { hung, p } = await setup();
    hung.pathModes.set('/api/v1/chart/', 'reset-before-headers');
    const held = send(p.url, 'GET', '/api/v1/dashboard/7');
    await until(() => hung.received.length === 1, 'the request held by the hung replica');
    // Three resets in a row (the harness's consecutiveFailures) eject it; each of those is retried too.
    for (let i = 0; i < 3; i++) expect((await send(p.url, 'GET', '/api/v1/chart/')).upstream).toBe('good');
    expect(await metricValue(p.metrics, 'superset_ha_ejections_total', { replica: 'hung' })).toBe(1);
    expect(await held).toMatchObject({ status: 200, upstream: 'good' });
    expect(await metricValue(p.metrics, 'superset_ha_rescued_requests_total', { reason: 'ejected' })).toBe(1);
  });

  it('a draining replica finishes what it has: nothing is rescued, new requests go elsewhere', async () => {
    const { ups, p } = await proxyWithUpstreams(['slow', 'other'], { proxy: PRODUCTION, table: { balance: { localId: 'slow' } } }, cleanups);
    const [slow, other] = ups as [FakeUpstream, FakeUpstream];
    slow.delayMs = 800;
    const pending = [send(p.url, 'GET', '/api/v1/dashboard/1'), send(p.url, 'POST', '/api/v1/chart/data', '{}')];
    await until(() => slow.received.length === 2, 'two requests on the slow replica');
    // What the registrar does on drain: mark the payload, then delete the node.
    p.table.update({ stale: false, readAt: Date.now(), held: [], replicas: [replica(slow, 'draining'), replica(other)] });
    expect((await send(p.url, 'GET', '/api/v1/chart/')).upstream).toBe('other');
    p.table.update({ stale: false, readAt: Date.now(), held: [], replicas: [replica(other)] });
    for (const a of await Promise.all(pending)) expect(a).toMatchObject({ status: 200, upstream: 'slow' });
    expect(await metricValue(p.metrics, 'superset_ha_rescued_requests_total')).toBe(0);
    expect(other.count((r) => r.url === '/api/v1/dashboard/1')).toBe(0);
  });

  it('a rescue is never refused by the retry budget, but spends from it: the retries after it are held back', async () => {
    // A budget with room for nothing: retries are refused; a rescue off a failed replica still happens.
    const { hung, good, p } = await setup({ budget: { ratio: 0, minPerSec: 0, windowMs: 10_000 } });
    const get = send(p.url, 'GET', '/api/v1/dashboard/1');
    await until(() => hung.received.length === 1, 'the request on the hung replica');
    p.table.setDown('hung', true);
    expect(await get).toMatchObject({ status: 200, upstream: 'good' });
    expect(await metricValue(p.metrics, 'superset_ha_rescued_requests_total', { reason: 'unhealthy' })).toBe(1);
    // An ordinary retry now finds the budget spent.
    p.table.setDown('hung', false);
    hung.mode = 'status503'; // the local replica, tried first; the retry to `good` is what the budget refuses
    const r = await send(p.url, 'GET', '/api/v1/dashboard/2');
    expect(r.status).toBe(503);
    expect(good.count((x) => x.url === '/api/v1/dashboard/2')).toBe(0);
    expect(await metricValue(p.metrics, 'superset_ha_retry_budget_exhausted_total')).toBeGreaterThan(0);
  });
});
