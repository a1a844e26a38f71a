import { ErrorCode, errorFields } from './errors.ts';
import type { HealthMonitor } from './health/monitor.ts';
import type { Logger } from './log.ts';
import type { Proxy } from './proxy/proxy.ts';
import type { Coordination } from './roles/coordination.ts';
import type { RoutingTable } from './routing/upstreams.ts';
import type { ZkApi } from './zookeeper/api.ts';
import type { Membership } from './zookeeper/membership.ts';
import type { Registration } from './zookeeper/registration.ts';
import type { Election } from './zookeeper/election.ts';
import type { SingletonRunner } from './singleton/runner.ts';

// One structured line per failure or state change, each with a stable `code` or `event` to query by.

export function logSession(zk: ZkApi, log: Logger): void {
  zk.on('state', (s) => {
    if (s.kind === 'disconnected') log[s.suspect ? 'error' : 'warn']({ event: 'zk_state', ...s }, s.suspect ? 'ZooKeeper disconnected past the session timeout: session may be lost' : 'ZooKeeper disconnected');
    else log.info({ event: 'zk_state', ...s }, `ZooKeeper ${s.kind}`);
  });
  zk.on('session', (s) => log.info({ event: 'zk_session', ...s }, s.renewed ? 'new ZooKeeper session after expiry' : 'ZooKeeper session established'));
  zk.on('expired', (s) => log.error({ code: ErrorCode.ZK_SESSION_EXPIRED, ...s }, 'ZooKeeper session expired; opening a new one'));
  zk.on('connectTimeout', (err) => log.error(errorFields(err), err.message));
  zk.on('probe', (p) => {
    if (!p.ok && p.error) log.warn({ ...errorFields(p.error), ms: p.ms }, 'ZooKeeper server stopped answering; moving to another');
  });
  zk.on('error', (err) => log.error(errorFields(err), err.message));
}

export function logMembership(m: Membership, log: Logger): void {
  // What changed, not the whole set: at 200 replicas the set is ~3 KB per line, on every change.
  m.on('change', ({ joined, left, updated, snapshot: s }) =>
    log[s.stale ? 'warn' : 'info'](
      {
        event: 'membership',
        size: s.replicas.length,
        ...(joined.length > 0 ? { joined } : {}),
        ...(left.length > 0 ? { left } : {}),
        ...(updated.length > 0 ? { updated } : {}),
        stale: s.stale,
        ...(s.held.length > 0 ? { held: s.held } : {}),
      },
      s.held.length > 0
        ? `ZooKeeper is back but ${s.held.join(', ')} not (yet) registered: keeping them while registrars re-register`
        : s.stale
          ? 'live set is stale: keeping the last known good set'
          : 'live set updated',
    ),
  );
  m.on('badPayload', (err) => log.warn(errorFields(err), err.message));
  m.on('error', ({ error, retryInMs }) => log.warn({ ...errorFields(error), retryInMs }, 'reading the live set failed; keeping the last known set'));
}

export function logRegistration(r: Registration, log: Logger): void {
  r.on('change', (c) => log.info({ event: 'registration', path: r.path, ...c }, c.registered ? 'registered' : 'deregistered'));
  r.on('error', ({ error, retryInMs }) => log.warn({ ...errorFields(error), retryInMs }, `registration step failed: ${error.message}`));
}

export function logHealth(h: HealthMonitor, log: Logger): void {
  const failing = new Set<string>();
  h.on('result', (r) => {
    // Warn on the first failure of a streak and on recovery; repeats go to debug so an outage does not flood logs.
    if (r.error) {
      const first = !failing.has(r.check);
      failing.add(r.check);
      log[first ? 'warn' : 'debug']({ ...errorFields(r.error), check: r.check, ms: Math.round(r.ms) }, `health check ${r.check} failed`);
    } else if (failing.delete(r.check)) {
      log.info({ event: 'health_check_recovered', check: r.check }, `health check ${r.check} passes again`);
    }
  });
  h.on('change', ({ state, previous }) => log[state.kind === 'healthy' ? 'info' : 'warn']({ event: 'health', state, previous: previous.kind }, `replica is ${state.kind}`));
}

export function logProxy(p: Proxy, log: Logger): void {
  p.on('retry', (reason, replica, route) => log.info({ code: ErrorCode.PROXY_RETRY, reason, replica, route }, `retrying on another replica (${reason})`));
  // A client's own faults (4xx) are logged at most once per window per code, with the count: any client can
  // send them at will, and must not be able to flood the log. The metric counts every one.
  const clientFaults = new Map<string, () => number>();
  p.on('failure', (code, status, details) => {
    if (status >= 500) {
      log.warn({ code, status, ...details }, `answered ${status} ${code}`);
      return;
    }
    let limit = clientFaults.get(code);
    if (limit === undefined) clientFaults.set(code, (limit = everyMs(10_000)));
    const n = limit();
    if (n > 0) log.warn({ code, status, count: n, ...details }, `answered ${status} ${code}`);
  });
  const hedges = everyMs(10_000);
  p.on('hedge', (replica, route) => {
    const n = hedges();
    if (n > 0) log.info({ code: ErrorCode.PROXY_HEDGED, replica, route, count: n }, 'slow answer: sent backup requests to another replica');
  });
  const aborts = everyMs(10_000);
  p.on('clientAbort', (route, phase) => {
    const n = aborts();
    if (n > 0) log.info({ code: ErrorCode.PROXY_CLIENT_ABORTED, route, phase, count: n }, 'clients abandoned requests (not counted against any replica)');
  });
  const budget = everyMs(10_000);
  p.on('budgetExhausted', () => {
    const n = budget();
    if (n > 0) log.warn({ code: ErrorCode.PROXY_RETRY_BUDGET_EXHAUSTED, count: n }, 'retry budget exhausted: failures go to clients unretried');
  });
}

/** Per-request conditions log once per window with how many happened, so an outage cannot flood the log. */
function everyMs(windowMs: number): () => number {
  let last = 0;
  let count = 0;
  return () => {
    count++;
    const now = Date.now();
    if (now - last < windowMs) return 0;
    last = now;
    const n = count;
    count = 0;
    return n;
  };
}

export function logRoutingTable(t: RoutingTable, log: Logger): void {
  // The size only: the membership line already says who joined or left (the whole list was ~3 KB per change at 200).
  t.on('changed', ({ ids, stale }) => log.info({ event: 'routing_table', size: ids.length, stale }, 'routing table updated'));
  t.on('rescue', ({ id, reason, moved, stayed }) =>
    log.warn({ code: ErrorCode.PROXY_RESCUED, replica: id, reason, moved, stayed }, `replica ${id} failed (${reason}): moved ${moved} requests in flight to other replicas; ${stayed} stay (unsafe to replay, answer already started, or nowhere else to go)`),
  );
  t.on('ejected', ({ id, ms }) => log.warn({ code: ErrorCode.PROXY_EJECTED, replica: id, ms }, `replica ${id} ejected for ${ms} ms after consecutive failures`));
  const panic = everyMs(10_000);
  t.on('panic', ({ candidates }) => {
    const n = panic();
    if (n > 0) log.warn({ code: ErrorCode.PROXY_PANIC, candidates, count: n }, 'every candidate replica is ejected: routing to them anyway');
  });
}

/**
 * Refused POST /drain attempts (the metric counts every one): the warn line comes at most once per 10 s per code
 * (with the count since the last one), so a client guessing tokens cannot flood the log.
 */
export function refusedDrainLogger(log: Logger): (code: ErrorCode, remote: string | undefined) => void {
  const limits = new Map<ErrorCode, () => number>();
  return (code, remote) => {
    let limit = limits.get(code);
    if (limit === undefined) limits.set(code, (limit = everyMs(10_000)));
    const n = limit();
    if (n > 0) log.warn({ code, remote, count: n }, 'refused POST /drain');
  };
}

export function logCoordination(c: Coordination, log: Logger): void {
  if (!c.authenticated) {
    log.warn({ code: ErrorCode.ZK_AUTH_OFF }, 'zookeeper.auth is not set: anyone who reaches the ensemble can rewrite the membership and the runtime config');
  }
  c.on('layout', ({ created, fixed }) => {
    if (created.length > 0) log.info({ event: 'zk_layout', created }, 'created coordination nodes');
    for (const f of fixed) log.warn({ code: ErrorCode.ZK_ACL_FIXED, path: f.path, problem: f.problem }, `rewrote the open ACL of ${f.path}`);
  });
  c.on('layoutError', ({ error, retryInMs }) => log.warn({ ...errorFields(error), retryInMs }, `preparing the coordination nodes failed: ${error.message}`));
  c.on('fatal', (error) => log.fatal(errorFields(error), error.message));
  c.on('refused', (error) => log.warn(errorFields(error), error.message));
  c.on('maintenance', ({ id, on }) => log.info({ event: 'maintenance', replica: id, on }, on ? 'runtime config puts this replica in maintenance: deregistering' : 'maintenance over'));
  c.runtime.on('change', ({ current, previous }) =>
    log.info({ event: 'runtime_config', version: current.version, previousVersion: previous.version, config: current.config }, 'runtime config applied'),
  );
  c.runtime.on('rejected', (error) => log.error(errorFields(error), 'runtime config rejected; keeping the previous one'));
  c.runtime.on('error', ({ error, retryInMs }) => log.warn({ ...errorFields(error), retryInMs }, 'reading the runtime config failed; keeping the previous one'));
}

export function logElector(e: Election, r: SingletonRunner, log: Logger): void {
  e.on('leading', ({ leading, reason }) => {
    if (leading) log.info({ event: 'leader', leading, reason, node: e.node }, 'elected leader: starting the singleton command');
    else if (reason === 'disconnected') log.warn({ code: ErrorCode.ELECTION_STEPPED_DOWN, leading, reason }, 'disconnected from ZooKeeper too long: stepping down before the session can expire');
    else log.info({ event: 'leader', leading, reason }, `not leading (${reason})`);
  });
  e.on('leader', (leader) => log.info({ event: 'leader_seen', leader }, leader ? `leader is ${leader.id}` : 'no leader known'));
  e.on('error', ({ error, retryInMs }) => log.warn({ ...errorFields(error), retryInMs }, `election step failed: ${error.message}`));
  r.on('started', ({ pid, restart }) => log.info({ event: 'singleton_started', pid, restart }, 'singleton command started'));
  r.on('exited', (x) => log[x.expected ? 'info' : 'warn']({ event: 'singleton_exited', ...x }, x.expected ? 'singleton command stopped' : 'singleton command exited on its own'));
  r.on('restartScheduled', ({ error, inMs }) => log.warn({ ...errorFields(error), retryInMs: inMs }, `restarting the singleton command in ${inMs} ms`));
  r.on('killed', ({ error }) => log.error(errorFields(error), error.message));
  // The child's own lines, one pino line each, so its logs travel with the sidecar's.
  r.on('output', ({ pid, stream, line }) => log.info({ event: 'singleton_output', pid, stream }, line));
}
