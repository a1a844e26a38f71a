// The failover matrix (bench/failover.sh runs this): the same lightweight upstreams, fronted once by
// superset-ha (a sidecar beside each, on the bench's ZooKeeper ensemble) and once by HAProxy configured as
// its best equivalent, each driven through the same drill scenarios with the same load in the same run.
//   node bench/failover.ts DIR HAPROXY_URL HAPROXY_STATS_URL ZK_CONNECT UPSTREAM_PORTS PROXY_PORTS ADMIN_PORTS
// (ports comma-separated). Writes DIR/<peer>/drill.json and report.html, prints the matrix (markdown).
import path from 'node:path';
import { loadDrillConfig } from '../src/drills/config.ts';
import { writeOutputs } from '../src/drills/journal.ts';
import { httpMix } from '../src/drills/mix.ts';
import { runScenario, type ScenarioResult } from '../src/drills/runner.ts';
import type { ScenarioName } from '../src/drills/scenario-names.ts';
import { SCENARIOS } from '../src/drills/scenarios.ts';
import { table } from '../src/drills/summary.ts';
import { parseTarget, type Target } from '../src/drills/target.ts';
import { startSmallStack, stopSmallStack } from '../test/support/drill-stack.ts';

const [dir, haproxyUrl, statsUrl, zk, ups, proxies, admins] = process.argv.slice(2) as [string, string, string, string, string, string, string];
const ports = (s: string) => s.split(',').map(Number);
const scenarios = (process.env.BENCH_SCENARIOS ?? 'replica-crash,replica-hang,zk-leader-kill').split(',') as ScenarioName[];
const faultS = Number(process.env.BENCH_FAULT_S ?? 20);
const rate = Number(process.env.BENCH_RATE ?? 20);
const base = loadDrillConfig();
const config = { ...base, run: { ...base.run, steadyS: 5, afterS: 3, sampleMs: 250 } };
// HAProxy has no /metrics story of superset-ha's to tell: its stats are judged in the matrix's own column.
const peerConfig = (peer: string) => (peer === 'haproxy' ? { ...config, thresholds: { ...config.thresholds, metricsMustTell: false } } : config);

const sha = await startSmallStack({ dir: path.join(dir, 'stack'), zkConnect: zk, upstreamPorts: ports(ups), proxyPorts: ports(proxies), adminPorts: ports(admins), cluster: 'bench-failover' });
// HAProxy in front of the same upstreams: one entry point, its CSV stats instead of superset-ha's admin API.
const haproxy: Target = parseTarget(
  {
    ...sha,
    name: 'haproxy',
    sidecars: [{ id: 'haproxy', index: 0, proxy: haproxyUrl }],
    haproxyStats: { url: statsUrl, backend: 'upstreams' },
    health: { intervalMs: 2000, fall: 3, rise: 2 },
  },
  'haproxy peer',
);

const peers: [string, Target][] = [
  ['superset-ha', sha],
  ['haproxy', haproxy],
];
const results = new Map<string, ScenarioResult[]>();
let seqs = 0;
const seq = { next: () => seqs++ };
try {
  for (const name of scenarios) {
    for (const [peer, target] of peers) {
      const runId = `b${Date.now().toString(36)}`;
      process.stderr.write(`[failover] ${name} × ${peer} ...\n`);
      const r = await runScenario({ target, config: peerConfig(peer), runId, make: httpMix(target, runId, 0.2), signal: new AbortController().signal, faultMs: faultS * 1000, rate, seq }, SCENARIOS[name]);
      results.set(peer, [...(results.get(peer) ?? []), r]);
      process.stderr.write(`[failover] ${name} × ${peer}: ${r.figures.requests} requests, ${r.figures.clientErrors} errors, verdict ${r.verdict.status}\n`);
    }
  }
} finally {
  await stopSmallStack(path.join(dir, 'stack'));
}

for (const [peer, rs] of results) {
  const meta = { runId: peer, target: peer, startedAt: rs[0]!.startedAt, finishedAt: new Date().toISOString(), rate, faultS, interrupted: false };
  await writeOutputs(path.join(dir, peer), meta, peerConfig(peer), { peer }, rs);
}

// "metrics silent": nothing the peer exposes showed the fault. For superset-ha: /metrics did not tell the
// scenario's story; for HAProxy: its stats never showed the failed server DOWN (detection null).
const rows: string[][] = [];
for (const name of scenarios) {
  for (const [peer] of peers) {
    const r = results.get(peer)?.find((x) => x.name === name);
    if (!r) continue;
    const f = r.figures;
    const silent = peer === 'haproxy' ? f.detectS === null && name.startsWith('replica') : f.metricsTold !== true;
    rows.push([
      name,
      peer,
      `${f.clientErrors} (${f.failed} failed, ${f.indeterminate} indet.)`,
      `${f.replayedUnsafe ?? '?'} / ${f.unsafeSent}`,
      `${f.requests} / ${f.shed}`,
      f.sentToFailedAfterIsolation === null ? '—' : String(f.sentToFailedAfterIsolation),
      f.detectS === null ? '—' : `${f.detectS} s`,
      f.isolateS === null ? '—' : `${f.isolateS} s`,
      `${Math.max(f.latency.before?.max ?? 0, f.latency.during?.max ?? 0, f.latency.after?.max ?? 0)} ms`,
      String(f.flaps),
      name.startsWith('zk') && peer === 'haproxy' ? 'n/a' : silent ? 'yes' : 'no',
      r.verdict.status,
    ]);
  }
}
const header = ['scenario', 'peer', 'client errors', 'replayed POSTs / sent', 'requests / shed', 'to dead replica after isolation', 'detect', 'isolate', 'worst latency', 'flaps', 'metrics silent', 'drill verdict'];
process.stdout.write(`${table(header, rows)}\n\nReports: ${path.join(dir, 'superset-ha', 'report.html')}  ${path.join(dir, 'haproxy', 'report.html')}\n`);
