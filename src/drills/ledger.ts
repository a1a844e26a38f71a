// The per-request ledger: every request the drill's load sent, what the client saw, and how it is counted.
// Outcomes follow Jepsen: `ok` happened, `failed` certainly did not, `indeterminate` may have (a timeout, a
// broken connection after the request went out, or the proxy's own SHA_PROXY_NOT_REPLAYED answer).

export type RouteClass = 'dashboard' | 'chart-list' | 'chart-data' | 'sqllab' | 'read' | 'write';
export type Outcome = 'ok' | 'failed' | 'indeterminate';
export type Phase = 'steady' | 'fault' | 'recovery' | 'after';

/** Routes whose replay would do something twice (SQL Lab execute, writes). */
export const UNSAFE_ROUTES: ReadonlySet<RouteClass> = new Set(['sqllab', 'write']);

export interface LedgerEntry {
  readonly seq: number;
  /** ms since the scenario's start. */
  readonly start: number;
  readonly end: number;
  readonly sidecar: string;
  readonly route: RouteClass;
  readonly method: string;
  /** HTTP status; 0 when no response came. */
  readonly status: number;
  /** The proxy's error code from its JSON answer (SHA_PROXY_...), or the client-side error code (ECONNREFUSED, TIMEOUT). */
  readonly code: string | null;
  readonly outcome: Outcome;
  readonly phase: Phase;
}

/** What a client saw of one request: an HTTP answer, or an error before any answer. */
export type Seen = { kind: 'response'; status: number; code: string | null } | { kind: 'error'; code: string; sent: boolean };

/**
 * Classifies one request. A request that never left the client (connection refused) failed; one that went
 * out and got no answer may have run. For unsafe routes a gateway timeout or the proxy's "not replayed" answer
 * are indeterminate: Superset may have executed it. Safe routes have no side effects, so a non-answer is a failure.
 */
export function classify(route: RouteClass, seen: Seen): { status: number; code: string | null; outcome: Outcome } {
  if (seen.kind === 'error') {
    const outcome: Outcome = !seen.sent ? 'failed' : UNSAFE_ROUTES.has(route) ? 'indeterminate' : 'failed';
    return { status: 0, code: seen.code, outcome };
  }
  const { status, code } = seen;
  if (status >= 200 && status < 400) return { status, code, outcome: 'ok' };
  if (code === 'SHA_PROXY_NOT_REPLAYED') return { status, code, outcome: 'indeterminate' };
  if (UNSAFE_ROUTES.has(route) && (code === 'SHA_PROXY_UPSTREAM_TIMEOUT' || (code === null && (status === 502 || status === 504)))) {
    return { status, code, outcome: 'indeterminate' };
  }
  return { status, code, outcome: 'failed' };
}

export interface PhaseMarks {
  /** ms since the scenario's start: fault injected, fault healed, recovery seen (or the wait ended). */
  readonly fault: number;
  readonly heal: number;
  readonly recovered: number;
}

/** The phase a request belongs to, by its start time. */
export function phaseAt(t: number, marks: Partial<PhaseMarks>): Phase {
  if (marks.fault === undefined || t < marks.fault) return 'steady';
  if (marks.heal === undefined || t < marks.heal) return 'fault';
  if (marks.recovered === undefined || t < marks.recovered) return 'recovery';
  return 'after';
}

export class Ledger {
  readonly entries: LedgerEntry[] = [];
  #seq = 0;

  nextSeq(): number {
    return this.#seq++;
  }

  add(e: LedgerEntry): void {
    this.entries.push(e);
  }

  counts(filter: (e: LedgerEntry) => boolean = () => true): Record<Outcome, number> & { total: number } {
    const c = { ok: 0, failed: 0, indeterminate: 0, total: 0 };
    for (const e of this.entries) {
      if (!filter(e)) continue;
      c[e.outcome]++;
      c.total++;
    }
    return c;
  }
}

/** Latency quantiles (ms) of the entries, nearest-rank; null when there are none. */
export function latency(entries: readonly LedgerEntry[]): { n: number; p50: number; p99: number; max: number } | null {
  if (entries.length === 0) return null;
  const ms = entries.map((e) => e.end - e.start).sort((a, b) => a - b);
  const rank = (q: number) => ms[Math.min(ms.length - 1, Math.max(0, Math.ceil(q * ms.length) - 1))]!;
  return { n: ms.length, p50: rank(0.5), p99: rank(0.99), max: ms[ms.length - 1]! };
}

/** Requests per second and errors per second in 1 s buckets (for the report's strip). */
export function perSecond(entries: readonly LedgerEntry[]): { t: number; requests: number; errors: number }[] {
  const buckets = new Map<number, { requests: number; errors: number }>();
  let last = 0;
  for (const e of entries) {
    const t = Math.floor(e.start / 1000);
    last = Math.max(last, t);
    const b = buckets.get(t) ?? { requests: 0, errors: 0 };
    b.requests++;
    if (e.outcome !== 'ok') b.errors++;
    buckets.set(t, b);
  }
  const out: { t: number; requests: number; errors: number }[] = [];
  for (let t = 0; t <= last && entries.length > 0; t++) out.push({ t, ...(buckets.get(t) ?? { requests: 0, errors: 0 }) });
  return out;
}
