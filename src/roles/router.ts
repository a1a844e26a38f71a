import type { Config } from '../config.ts';
import type { HealthMonitor } from '../health/monitor.ts';
import type { Logger } from '../log.ts';
import { logMembership, logProxy, logRoutingTable } from '../log-events.ts';
import type { Metrics } from '../metrics.ts';
import { Proxy } from '../proxy/proxy.ts';
import { ProxyServer } from '../proxy/server.ts';
import { RetryBudget } from '../routing/retry-budget.ts';
import { RoutingTable } from '../routing/upstreams.ts';
import type { ZkApi } from '../zookeeper/api.ts';
import { Membership } from '../zookeeper/membership.ts';
import type { Coordination } from './coordination.ts';

/**
 * The router role: the membership watch, the routing table it feeds (through the coordination layer's allow
 * list and runtime overlay), and the proxy in front of it. With a local registrar beside it, the table also
 * follows that registrar's health verdict at once.
 */
export class RouterRole {
  readonly membership: Membership;
  readonly table: RoutingTable;
  readonly proxy: ProxyServer;

  constructor(zk: ZkApi, config: Config, metrics: Metrics, log: Logger, coordination: Coordination, localMonitor: HealthMonitor | undefined) {
    const zkc = config.zookeeper;
    this.membership = new Membership(zk, {
      dir: `${zkc.root}/replicas`,
      retry: { baseMs: zkc.retryBaseMs, maxMs: zkc.retryMaxMs },
      settleMs: zkc.settleMs ?? zkc.sessionTimeoutMs + zkc.registerJitterMs,
      rereadJitterMs: zkc.rereadJitterMs,
    });
    metrics.observeMembership(this.membership);
    logMembership(this.membership, log.child({ component: 'membership' }));

    const p = config.proxy;
    const table = new RoutingTable(
      coordination.tuning.tableOptions({
        pool: { connections: p.connectionsPerReplica, connectTimeoutMs: p.connectTimeoutMs, keepAliveMs: p.upstreamKeepAliveMs },
        outlier: p.outlier,
        maxEjectedPercent: p.outlier.maxEjectedPercent,
        balance: {
          zone: config.replica.zone,
          slowStartMs: p.slowStartMs,
          localYieldFactor: p.localYieldFactor,
          ...(p.preferLocal && localMonitor ? { localId: config.replica.id } : {}),
        },
      }),
    );
    this.table = table;
    coordination.route(this.membership, table);
    // The sidecar beside a replica acts on its own health verdict at once: requests in flight there move
    // without waiting for the deregistration to go through ZooKeeper (or while ZooKeeper is away).
    localMonitor?.on('change', ({ state }) => table.setDown(config.replica.id, state.kind === 'unhealthy'));
    metrics.observeRoutingTable(table);
    logRoutingTable(table, log.child({ component: 'routing' }));

    const proxy = new Proxy(
      table,
      coordination.tuning.budget(new RetryBudget({ ratio: p.retry.budgetRatio, minPerSec: p.retry.budgetMinPerSec, windowMs: p.retry.budgetWindowMs })),
      coordination.tuning.proxyOptions({
        maxAttempts: p.retry.maxAttempts,
        backoff: { baseMs: p.retry.baseMs, maxMs: p.retry.maxMs },
        maxReplayBodyBytes: p.maxReplayBodyBytes,
        holdResponseBytes: p.holdResponseBytes,
        headersTimeoutMs: p.headersTimeoutMs,
        bodyTimeoutMs: p.bodyTimeoutMs,
        retryAfterS: p.retryAfterS,
        hedge: p.hedge,
      }),
    );
    metrics.observeProxy(proxy);
    logProxy(proxy, log.child({ component: 'proxy' }));
    this.proxy = new ProxyServer(proxy, table, {
      host: p.host,
      port: p.port,
      clientKeepAliveMs: p.clientKeepAliveMs,
      maxHeaderBytes: p.maxHeaderBytes,
      trustedProxies: p.trustedProxies,
      clientBody: { timeoutMs: p.clientBodyTimeoutMs, minBytesPerSec: p.clientBodyMinBytesPerSec },
    });
  }

  /** Watches the live set and starts listening. */
  async start(): Promise<void> {
    this.membership.start();
    await this.proxy.start();
  }

  /** Stops accepting and lets requests in flight finish for up to `deadlineMs`; then stops watching. */
  async close(deadlineMs: number): Promise<void> {
    await this.proxy.close(deadlineMs);
    this.membership.close();
  }

  /** Closes the upstream pools (after the coordination layer stopped feeding the table). */
  async closeTable(): Promise<void> {
    await this.table.close();
  }
}
