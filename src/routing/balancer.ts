/** What the balancer needs to know about a candidate replica. */
export interface Candidate {
  readonly id: string;
  readonly zone: string;
  readonly weight: number;
  /** Requests in flight to it from this sidecar. */
  readonly outstanding: number;
}

export interface PickOptions {
  /** This sidecar's own replica: preferred while it is a candidate. */
  readonly localId?: string;
  readonly zone?: string;
  readonly random?: () => number;
}

/**
 * Picks one replica from `candidates` (already filtered for liveness, ejection and earlier attempts):
 * the local replica if present; else power-of-two-choices on weighted least outstanding requests among the
 * candidates in our zone (or all of them when our zone has none). P2C avoids the herd that pure
 * least-outstanding causes when many sidecars share stale counts, at O(1) cost.
 */
export function pick<C extends Candidate>(candidates: readonly C[], opts: PickOptions = {}): C | undefined {
  const n = candidates.length;
  if (n === 0) return undefined;
  if (opts.localId !== undefined) {
    for (const c of candidates) if (c.id === opts.localId) return c;
  }
  let pool: readonly C[] = candidates;
  if (opts.zone !== undefined) {
    const same = candidates.filter((c) => c.zone === opts.zone);
    if (same.length > 0 && same.length < n) pool = same;
  }
  if (pool.length === 1) return pool[0];
  const random = opts.random ?? Math.random;
  const i = Math.floor(random() * pool.length);
  let j = Math.floor(random() * (pool.length - 1));
  if (j >= i) j++;
  const a = pool[i]!;
  const b = pool[j]!;
  // Compare outstanding/weight without dividing: (a.out+1)/a.w vs (b.out+1)/b.w.
  return (a.outstanding + 1) * b.weight <= (b.outstanding + 1) * a.weight ? a : b;
}
