// The hang benchmark's table, from the samples bench/hang-load.ts recorded (also usable on its CSV:
//   node bench/hang-report.ts DIR   reads DIR/requests.csv and DIR/timeline.json).

export interface Sample {
  readonly peer: string;
  /** The port the request was sent to (which sidecar, for a peer spread over several). */
  readonly entry: string;
  readonly i: number;
  readonly startMs: number;
  readonly latencyMs: number;
  /** HTTP status; 0 when the request failed without one. */
  readonly status: number;
  /** The backend that answered (nginx's X-Backend header), '' if none. */
  readonly backend: string;
  /** undici's error code when the request failed without a status. */
  readonly error: string;
}

export interface Timeline {
  readonly rate: number;
  readonly seconds: number;
  stopAtMs: number | null;
  contAtMs: number | null;
}

/** Nearest-rank percentile of an ascending array. */
function pct(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

const ms = (v: number): string => (Number.isNaN(v) ? '–' : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`);
const failed = (s: Sample): boolean => s.status !== 200;

function row(peer: string, window: string, xs: readonly Sample[]): string {
  const lat = xs.map((s) => s.latencyMs).sort((a, b) => a - b);
  const errs = xs.filter(failed);
  const kinds = new Map<string, number>();
  for (const s of errs) {
    const k = s.status === 0 ? s.error : String(s.status);
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }
  const kindText = [...kinds].map(([k, n]) => `${k}×${n}`).join(' ');
  const slow = lat.filter((v) => v > 2000).length;
  return `| ${peer} | ${window} | ${xs.length} | ${errs.length}${kindText ? ` (${kindText})` : ''} | ${ms(pct(lat, 50))} | ${ms(pct(lat, 99))} | ${ms(lat.at(-1) ?? NaN)} | ${slow} |`;
}

/**
 * Per peer, two lines: the requests in flight at any moment of the hang (sent before SIGCONT, not answered
 * before SIGSTOP), and all requests. "> 2 s" counts requests slower than 2 s.
 */
export function report(samples: readonly Sample[], t: Timeline, peers: readonly string[]): string {
  const lines = [
    '| peer | window | requests | errors | p50 | p99 | worst | > 2 s |',
    '|---|---|---|---|---|---|---|---|',
  ];
  const stop = t.stopAtMs;
  const cont = t.contAtMs;
  for (const peer of peers) {
    const mine = samples.filter((s) => s.peer === peer);
    if (stop !== null && cont !== null) {
      lines.push(row(peer, 'during the hang', mine.filter((s) => s.startMs < cont && s.startMs + s.latencyMs > stop)));
    }
    lines.push(row(peer, 'overall', mine));
  }
  // Where the slow requests went in and which backend answered them: tells rescued ones (answered by the
  // backend that did not hang) from those that waited for the hung one.
  const where: string[] = [];
  for (const peer of peers) {
    const slow = samples.filter((s) => s.peer === peer && s.latencyMs > 2000);
    const by = new Map<string, number>();
    for (const s of slow) {
      const k = `via :${s.entry}, answered by ${s.backend || 'none'}`;
      by.set(k, (by.get(k) ?? 0) + 1);
    }
    if (slow.length > 0) where.push(`* ${peer}, requests > 2 s: ${[...by].map(([k, n]) => `${n} ${k}`).join('; ')}.`);
  }
  const when =
    stop !== null && cont !== null
      ? `SIGSTOP at ${(stop / 1000).toFixed(2)} s, SIGCONT at ${(cont / 1000).toFixed(2)} s (${((cont - stop) / 1000).toFixed(1)} s)`
      : 'no hang';
  return `${lines.join('\n')}\n\n${t.rate} GET/s per peer for ${t.seconds} s, open loop; ${when}.\n\n${where.join('\n')}\n`;
}

if (import.meta.main) {
  const { readFileSync } = await import('node:fs');
  const dir = process.argv[2];
  if (dir === undefined) {
    process.stderr.write('usage: node bench/hang-report.ts DIR\n');
    process.exit(2);
  }
  const t = JSON.parse(readFileSync(`${dir}/timeline.json`, 'utf8')) as Timeline;
  const rows = readFileSync(`${dir}/requests.csv`, 'utf8').trim().split('\n').slice(1);
  const samples = rows.map((l): Sample => {
    const [peer = '', entry = '', i, start, lat, status, backend = '', error = ''] = l.split(',');
    return { peer, entry, i: Number(i), startMs: Number(start), latencyMs: Number(lat), status: Number(status), backend, error };
  });
  process.stdout.write(report(samples, t, [...new Set(samples.map((s) => s.peer))]));
}
