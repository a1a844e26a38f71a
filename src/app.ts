import type { Config } from './config.ts';
import { ErrorCode, errorFields } from './errors.ts';
import { redactUrl } from './config.ts';
import type { HealthCheck } from './health/check.ts';
import { createMetadataDbCheck } from './health/metadata-db.ts';
import { HealthMonitor } from './health/monitor.ts';
import { SupersetHttpCheck } from './health/superset-http.ts';
import type { Logger } from './log.ts';
import { logCoordination, logHealth, logMembership, logProxy, logRegistration, logRoutingTable, logSession, refusedDrainLogger } from './log-events.ts';
import { Metrics } from './metrics.ts';
import { AdminServer } from './proxy/admin.ts';
import { Proxy } from './proxy/proxy.ts';
import { ProxyServer } from './proxy/server.ts';
import { Coordination } from './roles/coordination.ts';
import { RetryBudget } from './routing/retry-budget.ts';
import { RoutingTable } from './routing/upstreams.ts';
import { Membership } from './zookeeper/membership.ts';
import { Registration } from './zookeeper/registration.ts';
import { ZkSession } from './zookeeper/session.ts';
import { ElectorRole } from './roles/elector.ts';
import { createDependencyCheck } from './health/dependency.ts';

const VERSION = '0.1.0';

/**
 * Composition root: builds the parts a config asks for, starts them in dependency order and closes them in
 * reverse. Shutdown deregisters first, so routers stop sending here before anything else goes away.
 */
export class App {
  readonly config: Config;
  readonly metrics: Metrics;
  readonly session: ZkSession;
  readonly coordination: Coordination;
  readonly monitor: HealthMonitor | undefined;
  readonly registration: Registration | undefined;
  readonly membership: Membership | undefined;
  readonly table: RoutingTable | undefined;
  readonly proxy: ProxyServer | undefined;
  readonly admin: AdminServer;
  readonly elector: ElectorRole | undefined;
  readonly #log: Logger;
  #draining = false;
  #closing: Promise<void> | undefined;
  readonly #onClosed: (exitCode?: number) => void;

  /**
   * `onClosed` runs after a drain that was asked for over the admin API has closed everything (exit), or with
   * exit code 1 after a fatal coordination problem (open ACLs) closed it.
   */
  constructor(config: Config, log: Logger, metrics = new Metrics(), onClosed: (exitCode?: number) => void = () => undefined) {
    this.config = config;
    this.#onClosed = onClosed;
    this.#log = log;
    this.metrics = metrics;
    const zk = config.zookeeper;
    const retry = { baseMs: zk.retryBaseMs, maxMs: zk.retryMaxMs };
    this.session = new ZkSession({ ...zk, retry });
    metrics.observeSession(this.session);
    logSession(this.session, log.child({ component: 'zk' }));
    this.coordination = new Coordination(this.session, config);
    metrics.observeCoordination(this.coordination);
    logCoordination(this.coordination, log.child({ component: 'coordination' }));
    this.coordination.on('fatal', () => {
      this.close().then(() => this.#onClosed(1), () => this.#onClosed(1));
    });

    if (config.roles.registrar) {
      const checks: HealthCheck[] = [new SupersetHttpCheck(config.superset.url, config.superset.healthPath)];
      if (config.metadataDb) checks.push(createMetadataDbCheck(config.metadataDb.url, config.health.timeoutMs));
      for (const dep of config.dependencies) checks.push(createDependencyCheck(dep, config.health.timeoutMs));
      this.monitor = new HealthMonitor(checks, config.health);
      metrics.observeHealth(this.monitor);
      logHealth(this.monitor, log.child({ component: 'health' }));

      this.registration = new Registration(this.session, {
        dir: `${zk.root}/replicas`,
        payload: {
          id: config.replica.id,
          url: config.replica.url,
          zone: config.replica.zone,
          weight: config.replica.weight,
          version: VERSION,
          startedAt: new Date().toISOString(),
        },
        jitterMs: zk.registerJitterMs,
        drainAnnounceMs: config.shutdown.drainAnnounceMs,
        retry,
      });
      metrics.observeRegistration(this.registration);
      logRegistration(this.registration, log.child({ component: 'registration' }));
      const registration = this.registration;
      this.monitor.on('change', ({ state }) => registration.setHealthy(state.kind === 'healthy'));
      this.coordination.attachRegistration(registration);
    }

    if (config.roles.router) {
      this.membership = new Membership(this.session, { dir: `${zk.root}/replicas`, retry, settleMs: zk.settleMs ?? zk.sessionTimeoutMs + zk.registerJitterMs, rereadJitterMs: zk.rereadJitterMs });
      metrics.observeMembership(this.membership);
      logMembership(this.membership, log.child({ component: 'membership' }));
      const p = config.proxy;
      const table = new RoutingTable(this.coordination.tuning.tableOptions({
        pool: { connections: p.connectionsPerReplica, connectTimeoutMs: p.connectTimeoutMs, keepAliveMs: p.upstreamKeepAliveMs },
        outlier: p.outlier,
        maxEjectedPercent: p.outlier.maxEjectedPercent,
        balance: {
          zone: config.replica.zone,
          slowStartMs: p.slowStartMs,
          localYieldFactor: p.localYieldFactor,
          ...(p.preferLocal && config.roles.registrar ? { localId: config.replica.id } : {}),
        },
      }));
      this.table = table;
      this.coordination.route(this.membership, table);
      // The sidecar beside a replica acts on its own health verdict at once: requests in flight there move
      // without waiting for the deregistration to go through ZooKeeper (or while ZooKeeper is away).
      const monitor = this.monitor;
      if (monitor) monitor.on('change', ({ state }) => table.setDown(config.replica.id, state.kind === 'unhealthy'));
      metrics.observeRoutingTable(table);
      logRoutingTable(table, log.child({ component: 'routing' }));
      const proxy = new Proxy(
        table,
        this.coordination.tuning.budget(new RetryBudget({ ratio: p.retry.budgetRatio, minPerSec: p.retry.budgetMinPerSec, windowMs: p.retry.budgetWindowMs })),
        this.coordination.tuning.proxyOptions({
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

    const logRefused = refusedDrainLogger(log.child({ component: 'admin' }));
    if (config.roles.elector) this.elector = new ElectorRole(this.session, config, metrics, log.child({ component: 'elector' }));

    this.admin = new AdminServer(
      {
        ready: () => this.#ready(),
        replicas: () => this.#replicasView(),
        drain: () => this.#adminDrain(),
        ...(this.elector ? { leader: () => this.elector!.leader() } : {}),
      },
      metrics,
      {
        host: config.admin.host,
        port: config.admin.port,
        ...(config.admin.drainToken ? { drainToken: config.admin.drainToken } : {}),
        onRefused: (code, remote) => {
          metrics.adminRefused.inc({ code });
          logRefused(code, remote);
        },
      },
    );
  }

  async start(): Promise<void> {
    this.#log.info(
      {
        event: 'starting',
        replica: this.config.replica.id,
        roles: this.config.roles,
        zookeeper: this.config.zookeeper.connect,
        root: this.config.zookeeper.root,
        metadataDb: this.config.metadataDb ? redactUrl(this.config.metadataDb.url) : null,
      },
      'superset-ha starting',
    );
    this.session.start();
    this.coordination.start();
    this.membership?.start();
    this.registration?.start();
    this.monitor?.start();
    this.elector?.start();
    await this.proxy?.start();
    await this.admin.start();
    this.#log.info({ event: 'started', admin: this.admin.address, proxy: this.proxy?.address ?? null }, 'superset-ha started');
  }

  /**
   * Deregisters and stays deregistered; resolves when the znode is gone (or the deadline passed). The proxy
   * keeps serving: other sidecars stop sending here as soon as they see the znode go.
   */
  async drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    this.proxy?.setDraining();
    this.#log.info({ event: 'draining' }, 'draining: deregistering this replica');
    await this.elector?.drain();
    if (this.registration) {
      const gone = await this.registration.drain(this.config.shutdown.drainTimeoutMs);
      if (!gone) this.#log.error({ code: ErrorCode.DRAIN_INCOMPLETE }, 'could not confirm deregistration before the drain deadline; the session close will remove it');
    }
  }

  /**
   * The shutdown order of DESIGN.md invariant 4: deregister; keep serving for drainDelayMs while readiness
   * reports draining, so the ingress stops sending; stop accepting and let in-flight requests finish; then
   * close the rest in reverse start order.
   */
  close(): Promise<void> {
    this.#closing ??= this.#doClose();
    return this.#closing;
  }

  async #doClose(): Promise<void> {
    const { drainDelayMs, drainTimeoutMs } = this.config.shutdown;
    await this.drain();
    if (this.proxy && drainDelayMs > 0) await new Promise((r) => setTimeout(r, drainDelayMs));
    await this.proxy?.close(drainTimeoutMs);
    await this.monitor?.close();
    this.registration?.close();
    this.membership?.close();
    this.coordination.close();
    await this.table?.close();
    await this.admin.close();
    await this.elector?.close(); // the command is gone before the session (and our election node) goes
    await this.session.close();
    this.#log.info({ event: 'closed' }, 'superset-ha stopped');
  }

  #adminDrain(): void {
    this.#log.info({ event: 'admin_drain' }, 'drain requested over the admin API');
    this.close().then(() => this.#onClosed(), (err: unknown) => {
      this.#log.error({ ...errorFields(err), code: ErrorCode.SHUTDOWN_FAILED }, 'shutdown after drain failed');
      this.#onClosed();
    });
  }

  #ready(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (this.#draining) reasons.push('draining');
    if (this.membership && this.membership.snapshot.replicas.length === 0) reasons.push('no live replica known');
    return { ready: reasons.length === 0, reasons };
  }

  #replicasView(): unknown {
    const snap = this.membership?.snapshot;
    const now = Date.now();
    return {
      self: {
        id: this.config.replica.id,
        health: this.monitor?.state ?? null,
        registered: this.registration?.registered ?? null,
        draining: this.#draining,
        checks: this.monitor?.results.map((r) => ({ check: r.check, ok: r.ok, mode: r.advisory ? 'advisory' : 'required', code: r.error?.code ?? null, at: new Date(r.at).toISOString() })) ?? null,
      },
      session: this.session.state,
      coordination: this.coordination.view(),
      elector: this.elector?.view() ?? null,
      live: snap ? { replicas: snap.replicas, stale: snap.stale, held: snap.held, readAt: snap.readAt === 0 ? null : new Date(snap.readAt).toISOString() } : null,
      routing: this.table
        ? this.table.upstreams.map((u) => ({
            id: u.id,
            origin: u.origin,
            zone: u.zone,
            weight: u.weight,
            outstanding: u.outstanding,
            ejected: u.outlier.isEjected(now),
            ejectedUntil: u.outlier.isEjected(now) ? new Date(u.outlier.ejectedUntil).toISOString() : null,
            consecutiveFailures: u.outlier.consecutiveFailures,
          }))
        : null,
    };
  }
}
