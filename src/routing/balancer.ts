/** What the balancer needs to know about a candidate replica. */
export interface Candidate {
  readonly id: string;
  readonly zone: string;
  readonly weight: number;
  /** Requests in flight to it from this sidecar. */
  readonly outstanding: number;
  /** Epoch ms it (re)joined; its share ramps up over PickOptions.slowStartMs from then (0: no ramp). */
  readonly since?: number;
  /** Recent response latency (fast EWMA, ms) and its slow EWMA (the replica's usual), from this sidecar. */
  readonly latency?: LatencyStats;
}

export interface LatencyStats {
  fastMs: number;
  slowMs: number;
  /** Epoch ms of the last sample. */
  at: number;
}

export interface PickOptions {
  /** This sidecar's own replica: preferred while it is a candidate. */
  readonly localId?: string;
  readonly zone?: string;
  readonly random?: () => number;
  /** Ramp a replica that (re)joined up from 10 % of its weight over this long (HAProxy slowstart). 0/unset: off. */
  readonly slowStartMs?: number;
  /**
   * The local preference yields while the local replica answers this many times slower than the others (or
   * than its own usual, before there is anything to compare with). 0/unset: never yields.
   */
  readonly localYieldFactor?: number;
}

/** A ramping replica starts at this share of its weight (Envoy's slow start min_weight_percent). */
const MIN_SHARE = 0.1;
/** Latencies below this are all "fast": no yielding over 2 ms versus 0.5 ms. */
const LATENCY_FLOOR_MS = 20;
/** Other replicas' samples older than this say nothing about now. */
const FRESH_MS = 60_000;

/** The share of its weight a replica gets now: 1, or less while it ramps up after (re)joining. */
export function rampShare(c: Candidate, slowStartMs: number | undefined, now: number): number {
  if (!slowStartMs || !c.since) return 1;
  const r = (now - c.since) / slowStartMs;
  return r >= 1 ? 1 : Math.max(MIN_SHARE, r);
}

/** Whether the local replica is markedly slower than the others (or than its own usual). */
export function localIsSlow<C extends Candidate>(local: C, candidates: readonly C[], factor: number, now: number): boolean {
  // Completed answers only: the age of a request still in flight says nothing (a chart query may rightly take
  // minutes), and a replica that stopped answering is the health checks' and the rescue's business.
  const l = local.latency;
  if (l === undefined || l.at === 0) return false;
  let best: number | undefined;
  for (const c of candidates) {
    if (c === local || c.latency === undefined || c.latency.at === 0 || now - c.latency.at > FRESH_MS) continue;
    if (best === undefined || c.latency.fastMs < best) best = c.latency.fastMs;
  }
  return l.fastMs > factor * Math.max(LATENCY_FLOOR_MS, best ?? l.slowMs);
}

/**
 * Picks one replica from `candidates` (already filtered for liveness, ejection and earlier attempts):
 * the local replica if present — unless it is markedly slower than the others, or still ramping up after
 * (re)joining (then only with the ramp's probability); else power-of-two-choices on weighted least
 * outstanding requests among the candidates in our zone (or all of them when our zone has none), weights
 * scaled by their slow-start ramp. P2C avoids the herd that pure least-outstanding causes when many
 * sidecars share stale counts, at O(1) cost.
 */
export function pick<C extends Candidate>(candidates: readonly C[], opts: PickOptions = {}, now = Date.now()): C | undefined {
  const n = candidates.length;
  if (n === 0) return undefined;
  const random = opts.random ?? Math.random;
  if (opts.localId !== undefined) {
    for (const c of candidates) {
      if (c.id !== opts.localId) continue;
      if (n === 1) return c;
      if (opts.localYieldFactor && localIsSlow(c, candidates, opts.localYieldFactor, now)) break;
      const share = rampShare(c, opts.slowStartMs, now);
      if (share >= 1 || random() < share) return c;
      break;
    }
  }
  let pool: readonly C[] = candidates;
  if (opts.zone !== undefined) {
    // Counted first: in the usual single-zone fleet every candidate is in our zone and nothing is allocated.
    let same = 0;
    for (const c of candidates) if (c.zone === opts.zone) same++;
    if (same > 0 && same < n) pool = candidates.filter((c) => c.zone === opts.zone);
  }
  if (pool.length === 1) return pool[0];
  const i = Math.floor(random() * pool.length);
  let j = Math.floor(random() * (pool.length - 1));
  if (j >= i) j++;
  const a = pool[i]!;
  const b = pool[j]!;
  const wa = a.weight * rampShare(a, opts.slowStartMs, now);
  const wb = b.weight * rampShare(b, opts.slowStartMs, now);
  // Compare outstanding/weight without dividing: (a.out+1)/wa vs (b.out+1)/wb.
  return (a.outstanding + 1) * wb <= (b.outstanding + 1) * wa ? a : b;
}
