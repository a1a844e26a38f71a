import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { HotCounter, HotHistogram, type HotCounterChild, type HotHistogramChild } from './hot-metrics.ts';
import type { HealthMonitor } from './health/monitor.ts';
import type { Proxy } from './proxy/proxy.ts';
import type { Coordination } from './roles/coordination.ts';
import type { RoutingTable } from './routing/upstreams.ts';
import type { SessionState, ZkApi } from './zookeeper/api.ts';
import type { Membership } from './zookeeper/membership.ts';
import type { Registration } from './zookeeper/registration.ts';
import type { Election } from './zookeeper/election.ts';
import type { SingletonRunner } from './singleton/runner.ts';

const SESSION_STATES = ['connecting', 'connected', 'disconnected', 'suspect', 'closed'] as const;

function sessionStateName(s: SessionState): (typeof SESSION_STATES)[number] {
  return s.kind === 'disconnected' && s.suspect ? 'suspect' : s.kind;
}

/**
 * The sidecar's Prometheus metrics, on a Registry of its own (never prom-client's global one), fed only
 * by component events: core logic does not import prom-client. Names are listed in DESIGN.md.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #r = this.registry;

  readonly replicasLive = new Gauge({ name: 'superset_ha_replicas_live', help: 'Replicas in the routing table', registers: [this.#r] });
  readonly membershipStale = new Gauge({
    name: 'superset_ha_membership_stale',
    help: '1 while the live set is the last known good one, not confirmed by a connected ZooKeeper session',
    registers: [this.#r],
  });
  readonly membershipHeld = new Gauge({
    name: 'superset_ha_membership_held',
    help: 'Replicas kept routable although their znodes are missing, in the settle window after a ZooKeeper outage',
    registers: [this.#r],
  });
  readonly membershipErrors = new Counter({ name: 'superset_ha_membership_errors_total', help: 'Failed reads of the live set', labelNames: ['code'], registers: [this.#r] });
  readonly membershipReads = new Counter({
    name: 'superset_ha_membership_reads_total',
    help: 'ZooKeeper reads issued to keep the live set: op=children (listings) or data (payloads); a change should cost about one',
    labelNames: ['op'],
    registers: [this.#r],
  });
  readonly badPayloads = new Counter({
    name: 'superset_ha_membership_bad_payloads_total',
    help: 'Replica znodes skipped because their payload did not validate (counted once per distinct problem)',
    registers: [this.#r],
  });
  readonly registered = new Gauge({ name: 'superset_ha_registered', help: '1 while this replica\'s znode exists and is ours', registers: [this.#r] });
  readonly registrationErrors = new Counter({
    name: 'superset_ha_registration_errors_total',
    help: 'Failed registration steps (retried with backoff)',
    labelNames: ['code'],
    registers: [this.#r],
  });
  readonly sessionState = new Gauge({ name: 'superset_ha_zk_session_state', help: 'ZooKeeper session state (1 for the current one)', labelNames: ['state'], registers: [this.#r] });
  readonly expirations = new Counter({ name: 'superset_ha_zk_session_expirations_total', help: 'ZooKeeper sessions that expired', registers: [this.#r] });
  readonly sessions = new Counter({ name: 'superset_ha_zk_sessions_total', help: 'ZooKeeper sessions established', registers: [this.#r] });
  readonly connectTimeouts = new Counter({ name: 'superset_ha_zk_connect_timeouts_total', help: 'Attempts to reach the ensemble that timed out', registers: [this.#r] });
  readonly probeFailures = new Counter({
    name: 'superset_ha_zk_probe_failures_total',
    help: 'Liveness probes that missed their deadline (the connection was dropped and moved to another server)',
    registers: [this.#r],
  });
  readonly healthStatus = new Gauge({
    name: 'superset_ha_health_status',
    help: '1 if the check passed last time; check="replica" is the verdict after rise/fall',
    labelNames: ['check'],
    registers: [this.#r],
  });
  readonly healthFailures = new Counter({ name: 'superset_ha_health_check_failures_total', help: 'Failed health checks', labelNames: ['check', 'code'], registers: [this.#r] });
  readonly healthDuration = new Histogram({
    name: 'superset_ha_health_check_duration_seconds',
    help: 'Health check duration',
    labelNames: ['check'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.#r],
  });

  // Touched by every proxied request: kept by hot-metrics.ts, exposed exactly as prom-client's own would be.
  readonly upstreamRequests = new HotCounter(this.#r, {
    name: 'superset_ha_upstream_requests_total',
    help: 'Attempts sent to each replica, by HTTP status or error code',
    labelNames: ['replica', 'code'],
  });
  readonly requestDuration = new HotHistogram(this.#r, {
    name: 'superset_ha_request_duration_seconds',
    help: 'Client request duration through the proxy, retries included',
    labelNames: ['status_class'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  });
  readonly retries = new Counter({ name: 'superset_ha_retries_total', help: 'Retries on another replica, by reason', labelNames: ['reason'], registers: [this.#r] });
  readonly budgetExhausted = new Counter({
    name: 'superset_ha_retry_budget_exhausted_total',
    help: 'Retries refused because the retry budget was spent',
    registers: [this.#r],
  });
  readonly failovers = new Counter({ name: 'superset_ha_failovers_total', help: 'Client requests answered by a replica after another failed', registers: [this.#r] });
  readonly rescued = new Counter({
    name: 'superset_ha_rescued_requests_total',
    help: 'Requests in flight taken off a replica that failed (left the live set, ejected, found unhealthy) and sent to another',
    labelNames: ['reason'],
    registers: [this.#r],
  });
  readonly clientAborts = new Counter({
    name: 'superset_ha_client_aborts_total',
    help: 'Client requests abandoned by the client (never counted against a replica), by when the client left',
    labelNames: ['phase'],
    registers: [this.#r],
  });
  readonly hedges = new Counter({ name: 'superset_ha_hedges_total', help: 'Backup (hedged) requests sent, by route class', labelNames: ['route'], registers: [this.#r] });
  readonly hedgeWins = new Counter({
    name: 'superset_ha_hedge_wins_total',
    help: 'Hedged requests whose backup answered first, by route class',
    labelNames: ['route'],
    registers: [this.#r],
  });
  readonly ejections = new Counter({ name: 'superset_ha_ejections_total', help: 'Passive outlier ejections', labelNames: ['replica'], registers: [this.#r] });
  readonly panics = new Counter({
    name: 'superset_ha_routing_panics_total',
    help: 'Requests routed to ejected replicas because every candidate was ejected',
    registers: [this.#r],
  });
  readonly proxyErrors = new Counter({
    name: 'superset_ha_proxy_errors_total',
    help: 'Error answers the proxy produced itself (no replica, upstream failed, not replayed, ...)',
    labelNames: ['code'],
    registers: [this.#r],
  });

  readonly adminRefused = new Counter({
    name: 'superset_ha_admin_refused_total',
    help: 'Admin requests refused (POST /drain without drain enabled or without the right token)',
    labelNames: ['code'],
    registers: [this.#r],
  });

  readonly upstreamsRefused = new Counter({
    name: 'superset_ha_upstreams_refused_total',
    help: 'Live replicas not routed to because their URL is outside proxy.allowedUpstreams (once per distinct replica and URL)',
    registers: [this.#r],
  });
  readonly runtimeConfigVersion = new Gauge({
    name: 'superset_ha_runtime_config_version',
    help: 'Data version of the <root>/config znode in force (-1: none)',
    registers: [this.#r],
  });
  readonly runtimeConfigChanges = new Counter({ name: 'superset_ha_runtime_config_changes_total', help: 'Runtime config documents applied', registers: [this.#r] });
  readonly runtimeConfigRejected = new Counter({
    name: 'superset_ha_runtime_config_rejected_total',
    help: 'Runtime config documents rejected as invalid (the previous one stays in force)',
    registers: [this.#r],
  });
  readonly runtimeConfigErrors = new Counter({ name: 'superset_ha_runtime_config_errors_total', help: 'Failed reads of the runtime config', labelNames: ['code'], registers: [this.#r] });
  readonly layoutErrors = new Counter({
    name: 'superset_ha_zk_layout_errors_total',
    help: 'Failed attempts to create or check the coordination nodes and their ACLs',
    labelNames: ['code'],
    registers: [this.#r],
  });
  readonly aclFixed = new Counter({ name: 'superset_ha_zk_acl_fixed_total', help: 'Coordination nodes whose open ACL was rewritten (fixOpenAcls)', registers: [this.#r] });
  readonly zkAuth = new Gauge({ name: 'superset_ha_zk_auth', help: '1 when the sidecar authenticates to ZooKeeper and closes its nodes to others', registers: [this.#r] });
  readonly maintenance = new Gauge({ name: 'superset_ha_maintenance', help: '1 while the runtime config puts this replica in maintenance', registers: [this.#r] });
  readonly isLeader = new Gauge({ name: 'superset_ha_is_leader', help: '1 while this sidecar leads the election (elector role)', registers: [this.#r] });
  readonly singletonRunning = new Gauge({
    name: 'superset_ha_singleton_running',
    help: '1 while the elected command (e.g. Celery beat) runs here',
    registers: [this.#r],
  });
  readonly singletonRestarts = new Counter({
    name: 'superset_ha_singleton_restarts_total',
    help: 'Restarts of the elected command after it exited on its own while leading',
    registers: [this.#r],
  });
  readonly singletonKills = new Counter({
    name: 'superset_ha_singleton_kills_total',
    help: 'Stops of the elected command that needed SIGKILL (it outlived SIGTERM for stopTimeoutMs)',
    registers: [this.#r],
  });
  readonly electionErrors = new Counter({
    name: 'superset_ha_election_errors_total',
    help: 'Failed election steps (retried with backoff)',
    labelNames: ['code'],
    registers: [this.#r],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.#r, prefix: 'superset_ha_' });
    this.#setSession({ kind: 'connecting' });
    this.membershipStale.set(1);
    this.registered.set(0);
    this.healthStatus.set({ check: 'replica' }, 0);
  }

  observeSession(zk: ZkApi): void {
    zk.on('state', (s) => this.#setSession(s));
    zk.on('session', () => this.sessions.inc());
    zk.on('expired', () => this.expirations.inc());
    zk.on('connectTimeout', () => this.connectTimeouts.inc());
    zk.on('probe', (p) => {
      if (!p.ok) this.probeFailures.inc();
    });
  }

  observeMembership(m: Membership): void {
    m.on('snapshot', (s) => {
      this.replicasLive.set(s.replicas.length);
      this.membershipStale.set(s.stale ? 1 : 0);
      this.membershipHeld.set(s.held.length);
    });
    m.on('error', ({ error }) => this.membershipErrors.inc({ code: error.code }));
    m.on('badPayload', () => this.badPayloads.inc());
    m.on('reads', (r) => {
      if (r.children > 0) this.membershipReads.inc({ op: 'children' }, r.children);
      if (r.data > 0) this.membershipReads.inc({ op: 'data' }, r.data);
    });
  }

  observeRegistration(r: Registration): void {
    r.on('change', ({ registered }) => this.registered.set(registered ? 1 : 0));
    r.on('error', ({ error }) => this.registrationErrors.inc({ code: error.code }));
  }

  observeHealth(h: HealthMonitor): void {
    h.on('result', (r) => {
      this.healthStatus.set({ check: r.check }, r.ok ? 1 : 0);
      this.healthDuration.observe({ check: r.check }, r.ms / 1000);
      if (r.error) this.healthFailures.inc({ check: r.check, code: r.error.code });
    });
    h.on('change', ({ state }) => this.healthStatus.set({ check: 'replica' }, state.kind === 'healthy' ? 1 : 0));
  }

  observeProxy(p: Proxy): void {
    // Hot path: label children are looked up once and cached, not joined per request.
    const upstream = new Map<string, Map<number | string, HotCounterChild>>();
    const duration = new Map<number, HotHistogramChild>();
    p.on('upstream', (replica, code) => {
      let byCode = upstream.get(replica);
      if (byCode === undefined) upstream.set(replica, (byCode = new Map<number | string, HotCounterChild>()));
      let child = byCode.get(code);
      if (child === undefined) byCode.set(code, (child = this.upstreamRequests.child(replica, String(code))));
      child.inc();
    });
    p.on('done', (status, seconds, failover) => {
      const cls = Math.floor(status / 100);
      let child = duration.get(cls);
      if (child === undefined) duration.set(cls, (child = this.requestDuration.child(`${cls}xx`)));
      child.observe(seconds);
      if (failover) this.failovers.inc();
    });
    p.on('retry', (reason) => this.retries.inc({ reason }));
    p.on('budgetExhausted', () => this.budgetExhausted.inc());
    p.on('rescued', (reason) => this.rescued.inc({ reason }));
    p.on('clientAbort', (_route, phase) => this.clientAborts.inc({ phase }));
    p.on('hedge', (_replica, route) => this.hedges.inc({ route }));
    p.on('hedgeWon', (_replica, route) => this.hedgeWins.inc({ route }));
    p.on('failure', (code) => this.proxyErrors.inc({ code }));
  }

  observeRoutingTable(t: RoutingTable): void {
    t.on('ejected', ({ id }) => this.ejections.inc({ replica: id }));
    t.on('panic', () => this.panics.inc());
  }

  observeCoordination(c: Coordination): void {
    this.zkAuth.set(c.authenticated ? 1 : 0);
    this.runtimeConfigVersion.set(c.runtime.current.version);
    this.maintenance.set(0);
    c.on('refused', () => this.upstreamsRefused.inc());
    c.on('layout', (r) => this.aclFixed.inc(r.fixed.length));
    c.on('layoutError', ({ error }) => this.layoutErrors.inc({ code: error.code }));
    c.on('fatal', (error) => this.layoutErrors.inc({ code: error.code }));
    c.on('maintenance', ({ on }) => this.maintenance.set(on ? 1 : 0));
    c.runtime.on('change', ({ current }) => {
      this.runtimeConfigVersion.set(current.version);
      this.runtimeConfigChanges.inc();
    });
    c.runtime.on('rejected', () => this.runtimeConfigRejected.inc());
    c.runtime.on('error', ({ error }) => this.runtimeConfigErrors.inc({ code: error.code }));
  }

  observeElector(e: Election, r: SingletonRunner): void {
    this.isLeader.set(0);
    this.singletonRunning.set(0);
    e.on('leading', ({ leading }) => this.isLeader.set(leading ? 1 : 0));
    e.on('error', ({ error }) => this.electionErrors.inc({ code: error.code }));
    r.on('started', ({ restart }) => {
      this.singletonRunning.set(1);
      if (restart) this.singletonRestarts.inc();
    });
    r.on('exited', () => this.singletonRunning.set(0));
    r.on('killed', () => this.singletonKills.inc());
  }

  #setSession(s: SessionState): void {
    const current = sessionStateName(s);
    for (const name of SESSION_STATES) this.sessionState.set({ state: name }, name === current ? 1 : 0);
  }
}
