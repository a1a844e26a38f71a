import type { Config } from './config.ts';
import { ErrorCode, errorFields } from './errors.ts';
import { redactUrl } from './config.ts';
import type { HealthMonitor } from './health/monitor.ts';
import type { Logger } from './log.ts';
import { logCoordination, logSession, refusedDrainLogger } from './log-events.ts';
import { Metrics } from './metrics.ts';
import { AdminServer } from './proxy/admin.ts';
import type { ProxyServer } from './proxy/server.ts';
import { Coordination } from './roles/coordination.ts';
import type { RoutingTable } from './routing/upstreams.ts';
import type { Membership } from './zookeeper/membership.ts';
import type { Registration } from './zookeeper/registration.ts';
import { ZkSession } from './zookeeper/session.ts';
import { ElectorRole } from './roles/elector.ts';
import { RegistrarRole } from './roles/registrar.ts';
import { RouterRole } from './roles/router.ts';

const VERSION = '0.1.0';

/**
 * Composition root: builds the roles a config asks for (registrar, router, elector, each in src/roles/, and
 * the coordination layer they share), starts them in dependency order and closes them in reverse. Shutdown deregisters first, so routers stop sending here before anything else goes away.
 */
export class App {
  readonly config: Config;
  readonly metrics: Metrics;
  readonly session: ZkSession;
  readonly coordination: Coordination;
  readonly registrar: RegistrarRole | undefined;
  readonly router: RouterRole | undefined;
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
      this.registrar = new RegistrarRole(this.session, config, metrics, log, VERSION);
      this.coordination.attachRegistration(this.registrar.registration);
    }
    if (config.roles.router) {
      this.router = new RouterRole(this.session, config, metrics, log, this.coordination, this.registrar?.monitor);
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

  get monitor(): HealthMonitor | undefined {
    return this.registrar?.monitor;
  }
  get registration(): Registration | undefined {
    return this.registrar?.registration;
  }
  get membership(): Membership | undefined {
    return this.router?.membership;
  }
  get table(): RoutingTable | undefined {
    return this.router?.table;
  }
  get proxy(): ProxyServer | undefined {
    return this.router?.proxy;
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
    this.registrar?.start();
    this.elector?.start();
    await this.router?.start();
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
    if (this.registrar) {
      const gone = await this.registrar.drain(this.config.shutdown.drainTimeoutMs);
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
    if (this.router && drainDelayMs > 0) await new Promise((r) => setTimeout(r, drainDelayMs));
    await this.router?.close(drainTimeoutMs);
    await this.registrar?.close();
    this.coordination.close();
    await this.router?.closeTable();
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
    const table = this.table;
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
      routing: table
        ? table.upstreams.map((u) => ({
            id: u.id,
            origin: u.origin,
            zone: u.zone,
            weight: u.weight,
            outstanding: u.outstanding,
            ejected: u.outlier.isEjected(now),
            // Its own sidecar's health verdict (acted on before ZooKeeper hears of it), and an announced drain.
            down: table.isDown(u.id),
            draining: u.draining,
            ejectedUntil: u.outlier.isEjected(now) ? new Date(u.outlier.ejectedUntil).toISOString() : null,
            consecutiveFailures: u.outlier.consecutiveFailures,
          }))
        : null,
    };
  }
}
