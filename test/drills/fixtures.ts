import type { Victim } from '../../src/drills/faults.ts';
import type { LedgerEntry } from '../../src/drills/ledger.ts';
import type { Observation } from '../../src/drills/observer.ts';

// A small synthetic drill: two sidecars, two replicas, superset-1 crashes at 4 s, is healed at 10 s.
export const victim: Victim = {
  replica: { id: 'superset-1', index: 1, url: 'http://127.0.0.1:1' },
  sidecar: { id: 'sidecar-1', index: 1, proxy: 'http://127.0.0.1:2', admin: 'http://127.0.0.1:3', replica: 'superset-1' },
};
export const marks = { fault: 4000, heal: 10_000, recovered: 13_000 };

const base = { live: 2, stale: 0, healthSuperset: 1, healthFailures: 0, connected: 1, toVictim: 100, expirations: 0 };

/** Samples every 500 ms: superset-1 leaves both routing tables at 6 s (sidecar-1 at 5.5 s), returns at 12 s. */
export function samples(opts: { flapAt?: number } = {}): Observation[] {
  const out: Observation[] = [];
  for (let t = 0; t <= 15_000; t += 500) {
    for (const sc of ['sidecar-0', 'sidecar-1']) {
      const gone = t >= (sc === 'sidecar-1' ? 5500 : 6000) && t < 12_000 && t !== opts.flapAt;
      const failing = sc === 'sidecar-1' && t >= 5000 && t < 11_000;
      out.push({
        t,
        sidecar: sc,
        up: true,
        routable: gone ? ['superset-0'] : ['superset-0', 'superset-1'],
        stale: false,
        m: {
          ...base,
          live: gone ? 1 : 2,
          healthSuperset: failing ? 0 : 1,
          healthFailures: t >= 5000 ? 3 : 0,
          toVictim: t < 6000 ? 100 + t / 100 : 160,
        },
      });
    }
  }
  return out;
}

export function entries(n = 60, errorsAt: number[] = []): LedgerEntry[] {
  return Array.from({ length: n }, (_, i) => {
    const start = i * 250;
    const bad = errorsAt.includes(i);
    return {
      seq: i,
      start,
      end: start + (start >= 4000 && start < 10_000 ? 400 : 40),
      sidecar: i % 2 === 0 ? 'sidecar-0' : 'sidecar-1',
      route: i % 5 === 4 ? 'sqllab' : 'dashboard',
      method: i % 5 === 4 ? 'POST' : 'GET',
      status: bad ? 502 : 200,
      code: bad ? 'SHA_PROXY_UPSTREAM_FAILED' : null,
      outcome: bad ? 'failed' : 'ok',
      phase: start < 4000 ? 'steady' : start < 10_000 ? 'fault' : start < 13_000 ? 'recovery' : 'after',
    } satisfies LedgerEntry;
  });
}

/** One row per SQL Lab execute sent, plus `extra` more rows for the given seqs (replays). */
export function executions(es: readonly LedgerEntry[], extra: Record<number, number> = {}): Map<number, number> {
  const m = new Map<number, number>();
  for (const e of es) if (e.route === 'sqllab') m.set(e.seq, 1 + (extra[e.seq] ?? 0));
  return m;
}
