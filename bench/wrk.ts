// Parses the text wrk 4.x prints with --latency. Times come out in milliseconds.
//
//   Running 10s test @ http://127.0.0.1:18410/data.json
//     1 threads and 50 connections
//     Thread Stats   Avg      Stdev     Max   +/- Stdev
//       Latency   790.12us  210.33us   9.87ms   91.02%
//       Req/Sec    58.61k     2.10k   61.20k    81.00%
//     Latency Distribution
//        50%  770.00us
//        75%  820.00us
//        90%  900.00us
//        99%    1.57ms
//     586123 requests in 10.00s, 1.41GB read
//     Socket errors: connect 0, read 0, write 0, timeout 0      (only when some)
//     Non-2xx or 3xx responses: 12                               (only when some)
//   Requests/sec:  58604.11
//   Transfer/sec:    144.23MB
//
// wrk formats times with units us, ms, s, m, h (src/units.c) and two decimals; its histogram has 1 µs
// resolution, so the two decimals of "us" values are the precision we get.

export interface WrkResult {
  readonly requests: number;
  readonly durationMs: number;
  readonly rps: number;
  readonly avgMs: number | undefined;
  /** Percentile (50, 75, 90, 99) → ms. */
  readonly percentiles: ReadonlyMap<number, number>;
  readonly socketErrors: number;
  readonly non2xx3xx: number;
}

const TIME_MS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** "770.00us" → 0.77; throws on anything else. */
export function parseTime(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(us|ms|s|m|h)$/.exec(text.trim());
  if (m === null) throw new Error(`not a wrk time: "${text}"`);
  return Number(m[1]) * TIME_MS[m[2]!]!;
}

export function parseWrk(text: string): WrkResult {
  const rps = /^Requests\/sec:\s+(\d+(?:\.\d+)?)\s*$/m.exec(text);
  const total = /^\s*(\d+) requests in (\S+), /m.exec(text);
  if (rps === null || total === null) {
    const last = text.trim().split('\n').slice(-1)[0] ?? '';
    throw new Error(`wrk output has no result (last line: "${last.slice(0, 160)}")`);
  }
  const percentiles = new Map<number, number>();
  const dist = text.indexOf('Latency Distribution');
  if (dist >= 0) {
    for (const m of text.slice(dist).matchAll(/^\s+(\d+(?:\.\d+)?)%\s+(\S+)\s*$/gm)) {
      percentiles.set(Number(m[1]), parseTime(m[2]!));
    }
  }
  if (!percentiles.has(50) || !percentiles.has(99)) throw new Error('wrk output has no latency distribution (run it with --latency)');
  const avg = /^\s+Latency\s+(\S+)\s/m.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    requests: Number(total[1]),
    durationMs: parseTime(total[2]!),
    rps: Number(rps[1]),
    avgMs: avg === null ? undefined : parseTime(avg[1]!),
    percentiles,
    socketErrors: sock === null ? 0 : sock.slice(1, 5).reduce((s, v) => s + Number(v), 0),
    non2xx3xx: bad === null ? 0 : Number(bad[1]),
  };
}

export function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
