import { Proxy, type ProxyOptions } from '../../src/proxy/proxy.ts';
import { ProxyServer, type ProxyServerOptions } from '../../src/proxy/server.ts';
import { RetryBudget } from '../../src/routing/retry-budget.ts';
import { RoutingTable, type RoutingTableOptions } from '../../src/routing/upstreams.ts';
import { Metrics } from '../../src/metrics.ts';
import { FakeUpstream } from './upstream.ts';

export interface ProxyUnderTest {
  readonly url: string;
  readonly table: RoutingTable;
  readonly proxy: Proxy;
  readonly metrics: Metrics;
  setUpstreams(ups: readonly FakeUpstream[]): void;
  close(): Promise<void>;
}

/**
 * The proxy with a routing table fed by hand (membership is exercised against real ZooKeeper in the
 * integration suite), wired to a Metrics instance exactly as the app wires it.
 */
export async function startProxy(
  ups: readonly FakeUpstream[],
  over: {
    proxy?: Partial<ProxyOptions>;
    table?: Partial<RoutingTableOptions>;
    budget?: { ratio: number; minPerSec: number; windowMs: number };
    server?: Pick<ProxyServerOptions, 'trustedProxies' | 'clientBody'>;
  } = {},
): Promise<ProxyUnderTest> {
  const table = new RoutingTable({
    pool: { connections: 16, connectTimeoutMs: 500, keepAliveMs: 1000 },
    outlier: { consecutiveFailures: 3, baseEjectionMs: 1000, maxEjectionMs: 10_000 },
    maxEjectedPercent: 50,
    balance: {},
    ...over.table,
  });
  const proxy = new Proxy(table, new RetryBudget(over.budget ?? { ratio: 1, minPerSec: 100, windowMs: 10_000 }), {
    maxAttempts: 3,
    backoff: { baseMs: 5, maxMs: 20 },
    maxReplayBodyBytes: 64 * 1024,
    holdResponseBytes: 64 * 1024,
    headersTimeoutMs: 2000,
    bodyTimeoutMs: 2000,
    retryAfterS: 5,
    hedge: { routes: [], delayMs: 1000 },
    ...over.proxy,
  });
  const metrics = new Metrics({ processMetrics: false });
  metrics.observeProxy(proxy);
  metrics.observeRoutingTable(table);
  const server = new ProxyServer(proxy, table, { host: '127.0.0.1', port: 0, clientKeepAliveMs: 5000, maxHeaderBytes: 64 * 1024, ...over.server });
  await server.start();
  const setUpstreams = (list: readonly FakeUpstream[]) =>
    table.update({
      stale: false,
      readAt: Date.now(),
      held: [],
      replicas: list.map((u) => ({ id: u.id, url: u.url, zone: 'default', weight: 100, version: 'test', startedAt: new Date().toISOString() })),
    });
  setUpstreams(ups);
  return {
    url: `http://127.0.0.1:${server.address.port}`,
    table,
    proxy,
    metrics,
    setUpstreams,
    close: async () => {
      await server.close(1000);
      await table.close();
    },
  };
}

/** Fake upstreams named `ids`, started, and the proxy in front of them; `cleanups` gets what stops them all. */
export async function proxyWithUpstreams(
  ids: readonly string[],
  over: Parameters<typeof startProxy>[1],
  cleanups: (() => Promise<void>)[],
): Promise<{ ups: FakeUpstream[]; p: ProxyUnderTest }> {
  const ups = await Promise.all(ids.map((id) => new FakeUpstream(id).start()));
  cleanups.push(async () => {
    for (const u of ups) await u.close();
  });
  const p = await startProxy(ups, over);
  cleanups.push(() => p.close());
  return { ups, p };
}

export async function metricValue(m: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = await m.registry.getSingleMetric(name)?.get();
  return (metric?.values ?? [])
    .filter((s) => Object.entries(labels).every(([k, v]) => String(s.labels[k]) === v))
    .reduce((sum, s) => sum + s.value, 0);
}
