// Builds the markdown report of one bench/proxy.sh run from its work directory:
//   node bench/report.ts WORK_DIR
// WORK_DIR holds meta.txt (key=value lines), rows.tsv (row, status, check), wrk/ROW-cCONNS-rRUN.txt
// (wrk --latency output), cpu/ROW-cCONNS-rRUN.txt ("ticks hz" of the proxy process over that run) and
// noise/ROW-cCONNS-rRUN.txt ("ticks hz seconds attempt": CPU used by processes outside the bench).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { median, parseWrk, type WrkResult } from './wrk.ts';

const ROWS = [
  { id: 'direct', label: 'direct to one backend (no proxy)' },
  { id: 'haproxy', label: 'HAProxy, 1 thread' },
  { id: 'replyfrom', label: 'fastify + @fastify/reply-from' },
  { id: 'floor', label: 'floor: node:http + undici dispatch' },
  { id: 'supersetha', label: '**superset-ha**' },
  { id: 'before', label: 'superset-ha before' }, // BENCH_BEFORE_DIR: another commit, measured next to superset-ha
] as const;
type RowId = (typeof ROWS)[number]['id'];

const TARGETS = { vsHaproxy: 0.35, vsReplyFrom: 1.5, addedP50Ms: 0.15 };

interface Series {
  runs: WrkResult[];
  errors: string[]; // unparseable runs
  cpuUsPerReq: number[];
  /** Per run: % of one core used by processes outside the bench, and how many times the run was repeated. */
  othersPct: { pct: number; repeats: number }[];
}

interface Row {
  id: RowId;
  label: string;
  status: string; // "ok" or "not available: ..."
  check: string;
  c50: Series;
  c1: Series;
}

function readMeta(dir: string): Map<string, string> {
  const meta = new Map<string, string>();
  for (const line of readFileSync(join(dir, 'meta.txt'), 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) meta.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return meta;
}

function readSeries(dir: string, row: string, conns: number): Series {
  const s: Series = { runs: [], errors: [], cpuUsPerReq: [], othersPct: [] };
  const wrkDir = join(dir, 'wrk');
  if (!existsSync(wrkDir)) return s;
  const re = new RegExp(`^${row}-c${conns}-r(\\d+)\\.txt$`);
  const files = readdirSync(wrkDir)
    .map((f) => ({ f, m: re.exec(f) }))
    .filter((x) => x.m !== null)
    .sort((a, b) => Number(a.m![1]) - Number(b.m![1]));
  for (const { f } of files) {
    let r: WrkResult;
    try {
      r = parseWrk(readFileSync(join(wrkDir, f), 'utf8'));
    } catch (err) {
      s.errors.push(`${f}: ${(err as Error).message}`);
      continue;
    }
    s.runs.push(r);
    const cpuFile = join(dir, 'cpu', f);
    if (existsSync(cpuFile)) {
      const [ticks, hz] = readFileSync(cpuFile, 'utf8').trim().split(/\s+/).map(Number);
      if (ticks !== undefined && hz !== undefined && hz > 0 && r.requests > 0) s.cpuUsPerReq.push(((ticks / hz) * 1e6) / r.requests);
    }
    const noiseFile = join(dir, 'noise', f);
    if (existsSync(noiseFile)) {
      const [ticks, hz, secs, attempt] = readFileSync(noiseFile, 'utf8').trim().split(/\s+/).map(Number);
      if (ticks !== undefined && hz !== undefined && secs !== undefined && hz > 0 && secs > 0) {
        s.othersPct.push({ pct: (ticks / hz / secs) * 100, repeats: attempt ?? 0 });
      }
    }
  }
  return s;
}

const med = (s: Series, f: (r: WrkResult) => number | undefined): number | undefined =>
  median(s.runs.map(f).filter((v): v is number => v !== undefined));
const p = (q: number) => (r: WrkResult) => r.percentiles.get(q);

function fmt(v: number | undefined, digits: number): string {
  return v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits);
}
function fmtInt(v: number | undefined): string {
  return v === undefined ? '–' : Math.round(v).toLocaleString('en-US');
}
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}
function signed(v: number | undefined, digits: number): string {
  return v === undefined ? '–' : `${v >= 0 ? '+' : ''}${v.toFixed(digits)}`;
}

function errorsOf(s: Series): string {
  const sock = s.runs.reduce((n, r) => n + r.socketErrors, 0);
  const bad = s.runs.reduce((n, r) => n + r.non2xx3xx, 0);
  const parts: string[] = [];
  if (sock > 0) parts.push(`${sock} socket`);
  if (bad > 0) parts.push(`${bad} non-2xx`);
  if (s.errors.length > 0) parts.push(`${s.errors.length} run(s) without result`);
  return parts.length === 0 ? '0' : parts.join(', ');
}

function verdict(value: number | undefined, goal: number, atLeast: boolean): string {
  if (value === undefined) return 'n/a';
  return (atLeast ? value >= goal : value <= goal) ? 'PASS' : 'FAIL';
}

function maxOthers(r: Row): number | undefined {
  const all = [...r.c50.othersPct, ...r.c1.othersPct].map((o) => o.pct);
  return all.length === 0 ? undefined : Math.max(...all);
}

function othersList(s: Series): string {
  return s.othersPct.map((o) => `${o.pct.toFixed(1)}${o.repeats > 0 ? ` (after ${o.repeats} repeat${o.repeats > 1 ? 's' : ''})` : ''}`).join(' / ') || '–';
}

/**
 * superset-ha against another commit measured in the same runs (BENCH_BEFORE_DIR). Each run measures the two
 * back to back (taking turns going first), so the per-run ratios cancel most of a machine whose speed drifts over minutes;
 * their median is the figure to compare, the spread says how far to trust it.
 */
function beforeComparison(sha: Row, before: Row): string {
  if (before.status !== 'ok') return `superset-ha ÷ ${before.label}: n/a (${cell(before.status)})`;
  const perRun = (f: (s: Series, i: number) => number | undefined) => {
    const out: number[] = [];
    for (let i = 0; i < Math.min(sha.c50.runs.length, before.c50.runs.length); i++) {
      const a = f(sha.c50, i);
      const b = f(before.c50, i);
      if (a !== undefined && b !== undefined && b > 0) out.push(a / b);
    }
    return out;
  };
  const rpsRatios = perRun((s, i) => s.runs[i]?.rps);
  const cpuRatios = perRun((s, i) => s.cpuUsPerReq[i]);
  const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' / ') || '–';
  return (
    `superset-ha ÷ ${before.label}, per run (50 conns): req/s ${list(rpsRatios)} (median ${fmt(median(rpsRatios), 2)}×), ` +
    `proxy CPU µs/req ${list(cpuRatios)} (median ${fmt(median(cpuRatios), 2)}×)`
  );
}

export function buildReport(dir: string): string {
  const meta = readMeta(dir);
  const noiseLimit = Number(meta.get('noise_pct') ?? '5');
  const status = new Map<string, { status: string; check: string }>();
  for (const line of readFileSync(join(dir, 'rows.tsv'), 'utf8').split('\n')) {
    const [id, st, check] = line.split('\t');
    if (id !== undefined && id !== '' && st !== undefined) status.set(id, { status: st, check: check ?? '' });
  }
  const rows: Row[] = ROWS.filter((r) => status.has(r.id)).map((r) => ({
    id: r.id,
    label: r.id === 'before' ? `superset-ha ${meta.get('before_commit') ?? '?'} (before)` : r.label,
    status: status.get(r.id)!.status,
    check: status.get(r.id)!.check,
    c50: readSeries(dir, r.id, 50),
    c1: readSeries(dir, r.id, 1),
  }));
  const byId = new Map(rows.map((r) => [r.id, r]));
  const rps = (id: RowId) => {
    const r = byId.get(id);
    return r === undefined ? undefined : med(r.c50, (x) => x.rps);
  };
  const c1p50 = (id: RowId) => {
    const r = byId.get(id);
    return r === undefined ? undefined : med(r.c1, p(50));
  };
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? undefined : a / b);
  const added = (id: RowId) => {
    const a = c1p50(id);
    const d = c1p50('direct');
    return a === undefined || d === undefined ? undefined : a - d;
  };

  const out: string[] = [];
  const runs = meta.get('runs') ?? '?';
  const secs = meta.get('seconds') ?? '?';
  out.push(`# superset-ha proxy benchmark — ${meta.get('started') ?? ''}`);
  out.push('');
  const load = meta.get('load_cpu') ?? '?';
  const directC1 = meta.get('direct_c1_cpu') ?? load;
  const warm = meta.get('warmup') ?? '?';
  out.push(
    `Loopback; 2 nginx backends (1 worker each, ${meta.get('body_bytes') ?? '?'} B JSON, keep-alive); round robin over both. ` +
      `wrk and the backends on core ${load}, the proxy on core ${meta.get('proxy_cpu') ?? '?'}; for the direct row's ` +
      `1-connection runs (the reference of "added p50") the backend is on core ${directC1}` +
      `${directC1 === meta.get('proxy_cpu') ? " (the proxy's, so the reference request crosses cores like a proxied one)" : ''}. ` +
      `Each figure is the median of ${runs} run(s) of ${secs} s, ${warm === '0' ? 'without warm-up' : `each after a ${warm} s warm-up`}; ` +
      `wrk \`-t1 -c50\` and \`-t1 -c1\`, both with \`--latency\`.`,
  );
  out.push('');
  out.push(
    '| row | check | c50 req/s | c50 p50 ms | c50 p99 ms | proxy CPU µs/req | ÷ HAProxy | ÷ reply-from | c1 p50 ms | c1 p99 ms | c1 added p50 ms vs direct | errors | others\' CPU, max % of a core |',
  );
  out.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    if (r.status !== 'ok') {
      out.push(`| ${r.label} | ${cell(r.status)} | – | – | – | – | – | – | – | – | – | – | – |`);
      continue;
    }
    const rowRps = med(r.c50, (x) => x.rps);
    const cpu = r.id === 'direct' ? undefined : median(r.c50.cpuUsPerReq);
    const add = r.id === 'direct' ? (c1p50('direct') === undefined ? '–' : '0 (ref)') : signed(added(r.id), 3);
    const errs = [errorsOf(r.c50), errorsOf(r.c1)];
    out.push(
      [
        '',
        r.label,
        cell(r.check),
        fmtInt(rowRps),
        fmt(med(r.c50, p(50)), 2),
        fmt(med(r.c50, p(99)), 2),
        fmt(cpu, 1),
        fmt(ratio(rowRps, rps('haproxy')), 2),
        fmt(ratio(rowRps, rps('replyfrom')), 2),
        fmt(med(r.c1, p(50)), 3),
        fmt(med(r.c1, p(99)), 3),
        add,
        errs[0] === '0' && errs[1] === '0' ? '0' : `c50: ${errs[0]}; c1: ${errs[1]}`,
        fmt(maxOthers(r), 1),
        '',
      ]
        .join(' | ')
        .trim(),
    );
  }

  const noisy = rows.flatMap((r) => [...r.c50.othersPct, ...r.c1.othersPct]).filter((o) => o.pct > noiseLimit).length;
  const repeated = rows.flatMap((r) => [...r.c50.othersPct, ...r.c1.othersPct]).reduce((n, o) => n + o.repeats, 0);
  if (noisy > 0) {
    out.push(
      '',
      `**Warning: in ${noisy} measured run(s) other processes used more than ${noiseLimit}% of a core (see "others' CPU"); ` +
        'the machine was not quiet and these figures understate what the proxies can do. Rerun when it is.**',
    );
  }
  if (repeated > 0) out.push('', `${repeated} repeat(s) of runs during which other processes were busy; each run keeps its least disturbed attempt.`);

  const sha = byId.get('supersetha');
  out.push('');
  out.push('## superset-ha targets');
  out.push('');
  if (sha === undefined) {
    out.push('superset-ha was not part of this run (BENCH_ONLY).');
  } else if (sha.status !== 'ok') {
    out.push(`superset-ha: ${cell(sha.status)}`);
  } else {
    const vsH = ratio(rps('supersetha'), rps('haproxy'));
    const vsR = ratio(rps('supersetha'), rps('replyfrom'));
    const add = added('supersetha');
    out.push('| target | measured | goal | verdict |');
    out.push('|---|---|---|---|');
    out.push(`| req/s ÷ HAProxy (50 conns) | ${fmt(vsH, 2)}× | ≥ ${TARGETS.vsHaproxy}× | ${verdict(vsH, TARGETS.vsHaproxy, true)} |`);
    out.push(`| req/s ÷ reply-from (50 conns) | ${fmt(vsR, 2)}× | ≥ ${TARGETS.vsReplyFrom}× | ${verdict(vsR, TARGETS.vsReplyFrom, true)} |`);
    out.push(`| added p50 vs direct (1 conn) | ${signed(add, 3)} ms | ≤ ${TARGETS.addedP50Ms} ms | ${verdict(add, TARGETS.addedP50Ms, false)} |`);
    if (!sha.check.startsWith('ok')) out.push('', `Correctness check failed: ${cell(sha.check)}`);
    // Not a target: the floor does none of superset-ha's work, so this only says how much that work costs.
    const floor = byId.get('floor');
    const before = byId.get('before');
    if (floor !== undefined) {
      out.push('');
      if (floor.status !== 'ok') {
        out.push(`superset-ha ÷ floor: n/a (floor ${cell(floor.status)})`);
      } else {
        // The same two ratios for superset-ha and, when measured, the before row.
        const vsFloor = (r: Row) =>
          `req/s ${fmt(ratio(rps(r.id), rps('floor')), 2)}×, proxy CPU µs/req ${fmt(ratio(median(r.c50.cpuUsPerReq), median(floor.c50.cpuUsPerReq)), 2)}×`;
        out.push(
          `superset-ha ÷ floor (50 conns): ${vsFloor(sha)} — ` +
            'the floor is node:http + undici dispatch and nothing else, the least any Node proxy on those pieces costs here; ' +
            'not a target, it shows what routing, retries, metrics and header hygiene cost on top.',
        );
        if (before?.status === 'ok') out.push('', `${before.label} ÷ floor (50 conns): ${vsFloor(before)}`);
      }
    }
    if (before !== undefined) out.push('', beforeComparison(sha, before));
  }

  out.push('');
  out.push('## Per run');
  out.push('');
  out.push(
    "| row | c50 req/s per run | c50 p99 ms per run | c1 p50 ms per run | c1 p99 ms per run | others' CPU % per run, c50 | others' CPU % per run, c1 |",
  );
  out.push('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    if (r.status !== 'ok') continue;
    const list = (s: Series, f: (x: WrkResult) => string) => s.runs.map(f).join(' / ') || '–';
    out.push(
      `| ${r.label} | ${list(r.c50, (x) => fmtInt(x.rps))} | ${list(r.c50, (x) => fmt(p(99)(x), 2))} | ` +
        `${list(r.c1, (x) => fmt(p(50)(x), 3))} | ${list(r.c1, (x) => fmt(p(99)(x), 3))} | ` +
        `${othersList(r.c50)} | ${othersList(r.c1)} |`,
    );
  }
  const problems = rows.flatMap((r) => [...r.c50.errors, ...r.c1.errors]);
  if (problems.length > 0) {
    out.push('', 'Runs without a parseable result:', ...problems.map((e) => `- ${cell(e)}`));
  }

  out.push('');
  out.push('## Setup');
  out.push('');
  for (const k of ['commit', 'before_commit', 'host', 'loadavg', 'node', 'haproxy', 'nginx', 'wrk', 'reply_from', 'undici', 'superset_ha_heap_flags', 'zookeeper', 'work_dir']) {
    if (meta.has(k)) out.push(`- ${k}: ${meta.get(k)}`);
  }
  out.push(
    '- "added p50" is the row\'s median p50 at 1 connection minus the direct row\'s; the proxy CPU is its process\'s user+system time over the measured 50-connection run ÷ requests (10 ms tick resolution); ' +
      '"others\' CPU" is the CPU time processes outside the bench used during a measured run, in % of one core (a run above the limit is repeated, and the least disturbed attempt kept).',
  );
  return out.join('\n') + '\n';
}

function selfTest(): void {
  const sample = `Running 10s test @ http://127.0.0.1:1/x
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  210.33us   1.05s    91.02%
    Req/Sec    58.61k     2.10k   61.20k    81.00%
  Latency Distribution
     50%  770.00us
     75%  820.00us
     90%    1.90ms
     99%    1.02s
  586123 requests in 10.00s, 1.41GB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 12
Requests/sec:  58604.11
Transfer/sec:    144.23MB
`;
  const r = parseWrk(sample);
  const eq = (a: number | undefined, b: number, what: string) => {
    if (a === undefined || Math.abs(a - b) > 1e-9) throw new Error(`self-test: ${what} = ${a}, expected ${b}`);
  };
  eq(r.rps, 58604.11, 'rps');
  eq(r.requests, 586123, 'requests');
  eq(r.durationMs, 10_000, 'duration');
  eq(r.avgMs, 1.2, 'avg');
  eq(r.percentiles.get(50), 0.77, 'p50');
  eq(r.percentiles.get(90), 1.9, 'p90');
  eq(r.percentiles.get(99), 1020, 'p99');
  eq(r.socketErrors, 5, 'socket errors');
  eq(r.non2xx3xx, 12, 'non-2xx');
  eq(median([3, 1, 2]), 2, 'median odd');
  eq(median([4, 1, 2, 3]), 2.5, 'median even');
  let threw = false;
  try {
    parseWrk('unable to connect to 127.0.0.1:1 Connection refused\n');
  } catch {
    threw = true;
  }
  if (!threw) throw new Error('self-test: a failed wrk run parsed');
  process.stdout.write('wrk parser self-test ok\n');
}

const arg = process.argv[2];
if (arg === '--self-test') selfTest();
else if (arg === undefined) {
  process.stderr.write('usage: node bench/report.ts WORK_DIR | --self-test\n');
  process.exitCode = 2;
} else process.stdout.write(buildReport(arg));
