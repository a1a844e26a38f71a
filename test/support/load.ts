import { Agent, request } from 'undici';

export interface LoadRequest {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: string;
  readonly headers?: Record<string, string>;
}

export interface LoadResult {
  readonly sent: number;
  readonly byStatus: Map<number, number>;
  readonly errors: string[];
  /** Non-2xx answers and transport errors: what a user would have seen fail. */
  readonly failed: number;
  /** `at`: ms after the load began; `i`: the request's number. Failed tests print them, for diagnosis. */
  readonly failures: { status: number; body: string; at: number; i: number }[];
  /** Every completed request's latency (ms), sorted ascending. */
  readonly latenciesMs: number[];
}

/** The p-th percentile (0-100) of sorted latencies. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * A bounded load loop: `workers` concurrent clients, each sending `next()` requests until `stop()` says so,
 * `maxRequests` were sent in all, or `maxMs` passed — whichever comes first.
 */
export async function runLoad(
  baseUrl: string | ((i: number) => string),
  next: (i: number) => LoadRequest,
  opts: { workers: number; maxRequests: number; maxMs: number; stop?: () => boolean },
): Promise<LoadResult> {
  const agent = new Agent({ connections: opts.workers, keepAliveTimeout: 10_000 });
  const byStatus = new Map<number, number>();
  const errors: string[] = [];
  const failures: { status: number; body: string; at: number; i: number }[] = [];
  const latenciesMs: number[] = [];
  const began = Date.now();
  const deadline = began + opts.maxMs;
  let sent = 0;
  const worker = async () => {
    while (sent < opts.maxRequests && Date.now() < deadline && !(opts.stop?.() ?? false)) {
      const i = sent++;
      const r = next(i);
      const base = typeof baseUrl === 'string' ? baseUrl : baseUrl(i);
      const t0 = performance.now();
      try {
        const res = await request(`${base}${r.path}`, {
          method: r.method,
          dispatcher: agent,
          headers: { 'x-id': `load-${i}`, ...(r.body ? { 'content-type': 'application/json' } : {}), ...r.headers },
          ...(r.body ? { body: r.body } : {}),
          headersTimeout: 15_000,
          bodyTimeout: 15_000,
        });
        const text = await res.body.text();
        latenciesMs.push(performance.now() - t0);
        byStatus.set(res.statusCode, (byStatus.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode >= 300) failures.push({ status: res.statusCode, body: text.slice(0, 300), at: Date.now() - began, i });
      } catch (err) {
        errors.push(`${String(err)} (request ${i}, at ${Date.now() - began} ms)`);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.workers }, worker));
  await agent.close();
  latenciesMs.sort((a, b) => a - b);
  return { sent, byStatus, errors, failed: failures.length + errors.length, failures, latenciesMs };
}

/** GETs and chart-data POSTs, alternating: the read traffic a dashboard makes. */
export const readMix = (i: number): LoadRequest =>
  i % 2 === 0 ? { method: 'GET', path: `/api/v1/dashboard/${i}` } : { method: 'POST', path: '/api/v1/chart/data', body: `{"queries":[{"i":${i}}]}` };
