import { Agent, request } from 'undici';
import { parsePromText, sumOf, type PromSample } from './prom-text.ts';
import type { Target } from './target.ts';

/** What one sidecar (or peer proxy) showed at one moment. */
export interface Observation {
  /** ms since the scenario's start. */
  readonly t: number;
  readonly sidecar: string;
  /** Its admin answered. */
  readonly up: boolean;
  /** Replica ids it routes to now (present and not ejected). */
  readonly routable: readonly string[];
  readonly stale: boolean;
  /** A few figures from /metrics (summed over labels) for the story and the verdict. */
  readonly m: Readonly<Record<string, number>>;
}

/** The counters and gauges a drill reads; the scenario expectations name these keys. */
export const WATCHED: Readonly<Record<string, (s: readonly PromSample[], victim: string) => number>> = {
  live: (s) => sumOf(s, 'superset_ha_replicas_live'),
  stale: (s) => sumOf(s, 'superset_ha_membership_stale'),
  registered: (s) => sumOf(s, 'superset_ha_registered'),
  healthSuperset: (s) => sumOf(s, 'superset_ha_health_status', { check: 'superset' }),
  healthDb: (s) => sumOf(s, 'superset_ha_health_status', { check: 'metadata_db' }),
  healthFailures: (s) => sumOf(s, 'superset_ha_health_check_failures_total'),
  dbFailures: (s) => sumOf(s, 'superset_ha_health_check_failures_total', { check: 'metadata_db' }),
  retries: (s) => sumOf(s, 'superset_ha_retries_total'),
  failovers: (s) => sumOf(s, 'superset_ha_failovers_total'),
  ejections: (s) => sumOf(s, 'superset_ha_ejections_total'),
  proxyErrors: (s) => sumOf(s, 'superset_ha_proxy_errors_total'),
  noReplica: (s) => sumOf(s, 'superset_ha_proxy_errors_total', { code: 'SHA_PROXY_NO_REPLICA' }),
  sessions: (s) => sumOf(s, 'superset_ha_zk_sessions_total'),
  expirations: (s) => sumOf(s, 'superset_ha_zk_session_expirations_total'),
  probeFailures: (s) => sumOf(s, 'superset_ha_zk_probe_failures_total'),
  connected: (s) => sumOf(s, 'superset_ha_zk_session_state', { state: 'connected' }),
  toVictim: (s, victim) => sumOf(s, 'superset_ha_upstream_requests_total', { replica: victim }),
  rescued: (s) => sumOf(s, 'superset_ha_rescued_requests_total'),
};

interface ReplicasView {
  live?: { stale?: boolean } | null;
  routing?: { id: string; ejected: boolean }[] | null;
}

/** HAProxy's CSV stats: one row per server with its status and total sessions (stot). */
export function parseHaproxyCsv(csv: string, backend: string): { routable: string[]; m: Record<string, number>; perServer: Record<string, number> } {
  const [head, ...rows] = csv.replace(/^# /, '').trim().split('\n');
  const cols = head!.split(',');
  const at = (r: string[], c: string) => r[cols.indexOf(c)] ?? '';
  const routable: string[] = [];
  const perServer: Record<string, number> = {};
  let chkfail = 0;
  let down = 0;
  let retries = 0;
  let redispatches = 0;
  for (const line of rows) {
    const r = line.split(',');
    if (at(r, 'pxname') !== backend || at(r, 'svname') === 'FRONTEND' || at(r, 'svname') === 'BACKEND') continue;
    const id = at(r, 'svname');
    perServer[id] = Number(at(r, 'stot')) || 0;
    if (at(r, 'status').startsWith('UP')) routable.push(id);
    chkfail += Number(at(r, 'chkfail')) || 0;
    down += Number(at(r, 'chkdown')) || 0;
    retries += Number(at(r, 'wretr')) || 0;
    redispatches += Number(at(r, 'wredis')) || 0;
  }
  return { routable, perServer, m: { live: routable.length, healthFailures: chkfail, ejections: down, retries: retries + redispatches } };
}

/**
 * Reads every sidecar's /replicas and /metrics every `sampleMs` (or a peer's HAProxy stats), so the drill
 * knows when the fault was noticed, when traffic stopped going to the failed part, and when all was whole again.
 */
export class Observer {
  readonly samples: Observation[] = [];
  readonly #target: Target;
  readonly #victim: string;
  readonly #now: () => number;
  readonly #sampleMs: number;
  readonly #agent = new Agent({ keepAliveTimeout: 2000 });
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(target: Target, victimReplica: string, now: () => number, sampleMs: number) {
    this.#target = target;
    this.#victim = victimReplica;
    this.#now = now;
    this.#sampleMs = sampleMs;
  }

  start(): void {
    if (this.#timer) return;
    const loop = () => {
      this.#running = this.sampleOnce().then(() => undefined).finally(() => {
        if (this.#timer) this.#timer = setTimeout(loop, this.#sampleMs);
      });
    };
    this.#timer = setTimeout(loop, 0);
  }

  async close(): Promise<void> {
    const t = this.#timer;
    this.#timer = undefined;
    clearTimeout(t);
    await this.#running;
    await this.#agent.close();
  }

  async sampleOnce(): Promise<Observation[]> {
    const t = this.#now();
    const got = await Promise.all(this.#target.sidecars.map((sc) => this.#read(sc, t)));
    this.samples.push(...got);
    return got;
  }

  async #get(url: string): Promise<string | undefined> {
    try {
      const r = await request(url, { dispatcher: this.#agent, headersTimeout: 1500, bodyTimeout: 1500, signal: AbortSignal.timeout(2000) });
      const text = await r.body.text();
      return r.statusCode === 200 ? text : undefined;
    } catch {
      return undefined;
    }
  }

  async #read(sc: Target['sidecars'][number], t: number): Promise<Observation> {
    const hs = this.#target.haproxyStats;
    if (hs !== undefined) {
      const csv = await this.#get(hs.url);
      if (csv === undefined) return { t, sidecar: sc.id, up: false, routable: [], stale: false, m: {} };
      const p = parseHaproxyCsv(csv, hs.backend);
      return { t, sidecar: sc.id, up: true, routable: p.routable, stale: false, m: { ...p.m, toVictim: p.perServer[this.#victim] ?? 0 } };
    }
    if (sc.admin === undefined) return { t, sidecar: sc.id, up: false, routable: [], stale: false, m: {} };
    const [replicas, metrics] = await Promise.all([this.#get(`${sc.admin}/replicas`), this.#get(`${sc.admin}/metrics`)]);
    if (replicas === undefined || metrics === undefined) return { t, sidecar: sc.id, up: false, routable: [], stale: false, m: {} };
    const view = JSON.parse(replicas) as ReplicasView;
    const samples = parsePromText(metrics);
    const m: Record<string, number> = {};
    for (const [k, f] of Object.entries(WATCHED)) m[k] = f(samples, this.#victim);
    return {
      t,
      sidecar: sc.id,
      up: true,
      routable: (view.routing ?? []).filter((r) => !r.ejected).map((r) => r.id),
      stale: view.live?.stale ?? false,
      m,
    };
  }
}
