// The hang benchmark's load and fault: open-loop GETs at a fixed rate through every peer at once, one
// backend SIGSTOPped for a while in the middle, every request's latency and outcome recorded.
//   node bench/hang-load.ts --out DIR --rate 50 --seconds 55 --stop-at 10 --hang 30 --stop-pgid PGID \
//     --peer NAME=URL[,URL...] [--peer ...] [--timeout 90]
// A peer with several URLs gets its requests spread round robin over them, as an ingress in front of
// several sidecars would. Open loop: request i of a peer is sent at i / rate seconds whatever the earlier
// ones are doing, so a hung request cannot slow the load down (a closed loop would hide the stall).
// Writes DIR/requests.csv (one line per request) and DIR/timeline.json; prints the table (hang-report.ts).
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { report, type Sample, type Timeline } from './hang-report.ts';

interface Peer {
  readonly name: string;
  readonly urls: readonly string[];
  readonly agent: Agent;
}

function parseArgs(argv: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === undefined || !k.startsWith('--') || v === undefined) throw new Error(`bad argument near '${k ?? ''}'`);
    out.set(k.slice(2), [...(out.get(k.slice(2)) ?? []), v]);
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const one = (k: string, dflt?: string): string => {
  const v = args.get(k)?.[0] ?? dflt;
  if (v === undefined) throw new Error(`--${k} is required`);
  return v;
};
const num = (k: string, dflt?: string): number => {
  const v = Number(one(k, dflt));
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${k} must be a non-negative number`);
  return v;
};

const outDir = one('out');
const rate = num('rate', '50');
const seconds = num('seconds', '55');
const stopAtS = num('stop-at', '10');
const hangS = num('hang', '30');
const timeoutS = num('timeout', '90');
const stopPgids = (args.get('stop-pgid') ?? []).map(Number);
if (rate <= 0 || seconds <= 0) throw new Error('--rate and --seconds must be positive');
if (stopPgids.some((p) => !Number.isInteger(p) || p <= 1)) throw new Error('--stop-pgid must be a process group id');

const peers: Peer[] = (args.get('peer') ?? []).map((spec) => {
  const eq = spec.indexOf('=');
  const urls = spec.slice(eq + 1).split(',').filter((u) => u !== '');
  if (eq <= 0 || urls.length === 0) throw new Error(`--peer must be NAME=URL[,URL...] (got '${spec}')`);
  // No connection limit: an open-loop client opens what the stall needs, as browsers behind an ingress would.
  const agent = new Agent({ headersTimeout: timeoutS * 1000, bodyTimeout: timeoutS * 1000, connectTimeout: 5_000 });
  return { name: spec.slice(0, eq), urls, agent };
});
if (peers.length === 0) throw new Error('at least one --peer is required');

// The stopped backend must never be left stopped, whatever ends this process.
let stopped = false;
const signalAll = (sig: NodeJS.Signals): void => {
  for (const pg of stopPgids) {
    try {
      process.kill(-pg, sig);
    } catch (err) {
      process.stderr.write(`hang-load: kill ${sig} -${pg}: ${String(err)}\n`);
    }
  }
};
const resume = (): void => {
  if (stopped) {
    stopped = false;
    signalAll('SIGCONT');
  }
};
process.on('exit', resume);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    resume();
    process.exit(130);
  });
}

const samples: Sample[] = [];
const t0 = performance.now();
const now = (): number => performance.now() - t0;
const timeline: Timeline = { rate, seconds, stopAtMs: null, contAtMs: null };

async function one_request(peer: Peer, i: number): Promise<void> {
  const entry = peer.urls[i % peer.urls.length] ?? '';
  const url = `${entry}/data.json?peer=${encodeURIComponent(peer.name)}&i=${i}`;
  const start = now();
  let status = 0;
  let backend = '';
  let error = '';
  try {
    const res = await request(url, { dispatcher: peer.agent, headers: { 'x-id': `${peer.name}-${i}` } });
    status = res.statusCode;
    const b = res.headers['x-backend'];
    backend = typeof b === 'string' ? b : '';
    await res.body.text();
  } catch (err) {
    error = (err as { code?: string }).code ?? (err as Error).name;
  }
  samples.push({ peer: peer.name, entry: new URL(entry).port, i, startMs: start, latencyMs: now() - start, status, backend, error });
}

const inflight: Promise<void>[] = [];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const total = Math.floor(seconds * rate);
const hang = (async () => {
  if (stopPgids.length === 0) return;
  await sleep(stopAtS * 1000 - now());
  stopped = true;
  signalAll('SIGSTOP');
  timeline.stopAtMs = now();
  process.stderr.write(`hang-load: SIGSTOP at ${(timeline.stopAtMs / 1000).toFixed(2)} s\n`);
  await sleep(stopAtS * 1000 + hangS * 1000 - now());
  resume();
  timeline.contAtMs = now();
  process.stderr.write(`hang-load: SIGCONT at ${(timeline.contAtMs / 1000).toFixed(2)} s\n`);
})();

// Send on schedule: request i at i/rate s; a late timer sends everything that has become due.
for (let i = 0; i < total; i++) {
  const due = (i / rate) * 1000;
  if (due > now()) await sleep(due - now());
  for (const p of peers) inflight.push(one_request(p, i));
}
await hang;
process.stderr.write(`hang-load: all ${total * peers.length} requests sent; waiting for the last answers\n`);
await Promise.all(inflight);
await Promise.all(peers.map((p) => p.agent.close()));

samples.sort((a, b) => a.startMs - b.startMs);
const csv = ['peer,entry,i,start_ms,latency_ms,status,backend,error'];
for (const s of samples) csv.push(`${s.peer},${s.entry},${s.i},${s.startMs.toFixed(1)},${s.latencyMs.toFixed(1)},${s.status},${s.backend},${s.error}`);
writeFileSync(`${outDir}/requests.csv`, `${csv.join('\n')}\n`);
writeFileSync(`${outDir}/timeline.json`, `${JSON.stringify(timeline)}\n`);
process.stdout.write(report(samples, timeline, peers.map((p) => p.name)));
