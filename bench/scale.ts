// Membership at fleet scale (bench/scale.sh runs this; see bench/README.md):
//   node bench/scale.ts CONNECT
// On a real ensemble: REPLICAS lightweight registrants (one ZkSession and one ephemeral znode each) and
// ROUTERS routers (the project's own ZkSession + Membership) in this process, plus one router-only
// sidecar process (bin/superset-ha.js, roles.registrar=false) whose RSS is sampled from /proc.
// Measures cold start, single changes, rolling restarts, ZooKeeper reads per change (counted at the
// routers and, as a cross-check, from the servers' `mntr` packet counters) and prints a markdown report.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Membership, type MembershipSnapshot } from '../src/zookeeper/membership.ts';
import { ZkSession } from '../src/zookeeper/session.ts';
import { imageEntrypoint } from '../test/support/dockerfile.ts';

const env = (name: string, def: number): number => {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  if (!/^\d{1,6}$/.test(v)) throw new Error(`${name} must be a non-negative integer (got '${v}')`);
  return Number(v);
};
const REPLICAS = env('SCALE_REPLICAS', 200);
const ROUTERS = env('SCALE_ROUTERS', 50);
const CHANGES = env('SCALE_CHANGES', 20);
const ROUNDS = env('SCALE_ROUNDS', 3);
const RATE = Math.max(1, env('SCALE_RATE', 5));
const IDLE_S = env('SCALE_IDLE_S', 30);
const SIDECAR_PORT = env('SCALE_SIDECAR_PORT', 12060);
const WAIT_MS = env('SCALE_WAIT_MS', 30_000);
const LABEL = process.env.SCALE_LABEL ?? 'this tree';
// bin: node bin/superset-ha.js (as `npx superset-ha`: it re-executes itself with the heap flags). image:
// the Dockerfile's ENTRYPOINT command line as it is (node, its flags, src/main.ts), as in Kubernetes.
// Both start from a compile cache warmed first (a private one under OUT), as the image's is at build time.
const SIDECAR = process.env.SCALE_SIDECAR ?? 'bin';
const OUT = process.env.SCALE_OUT ?? tmpdir();

const connect = process.argv[2];
if (connect === undefined || connect === '') {
  process.stderr.write('usage: node bench/scale.ts CONNECT\n');
  process.exit(2);
}
const root = `/superset-ha-scale/${Date.now().toString(36)}`;
const dir = `${root}/replicas`;
const log = (msg: string) => process.stderr.write(`[scale] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RETRY = { baseMs: 250, maxMs: 2_000 };

function newSession(probeIntervalMs: number): ZkSession {
  const s = new ZkSession({ connect: connect!, sessionTimeoutMs: 10_000, connectTimeoutMs: 10_000, operationTimeoutMs: 10_000, probeIntervalMs, probeTimeoutMs: 3_000, retry: RETRY });
  s.on('error', () => undefined);
  s.on('connectTimeout', () => undefined);
  return s;
}
const connected = (s: ZkSession): Promise<void> =>
  s.state.kind === 'connected' ? Promise.resolve() : new Promise((resolve) => s.once('connected', () => resolve()));

// ---- registrants ------------------------------------------------------------------------------------
const payload = (id: string, version: string) =>
  Buffer.from(JSON.stringify({ id, url: `http://127.0.0.1:1/${id}`, zone: 'default', weight: 100, version, startedAt: new Date().toISOString() }));

class Registrant {
  session: ZkSession | undefined;
  readonly id: string;
  constructor(id: string) {
    this.id = id;
  }
  /** Opens a new session and creates the znode; resolves with the time the create call was made. */
  async up(version: string): Promise<number> {
    const s = newSession(60_000); // lightweight: no liveness probe to speak of
    this.session = s;
    s.start();
    await connected(s);
    const t0 = performance.now();
    await s.create(`${dir}/${this.id}`, payload(this.id, version), 'ephemeral');
    return t0;
  }
  async down(): Promise<void> {
    await this.session?.close();
    this.session = undefined;
  }
}

// ---- routers ----------------------------------------------------------------------------------------
interface Counts {
  getData: number;
  getChildren: number;
  exists: number;
}
const reads: Counts = { getData: 0, getChildren: 0, exists: 0 };
const totalReads = () => reads.getData + reads.getChildren + reads.exists;
let readErrors = 0; // failed membership reads (retried by Membership); overload shows up here

type Pred = (s: MembershipSnapshot) => boolean;
class Router {
  readonly session = newSession(2_000);
  readonly membership: Membership;
  #waiters: { pred: Pred; done: () => void }[] = [];
  constructor() {
    const s = this.session as unknown as Record<keyof Counts, (...a: unknown[]) => Promise<unknown>>;
    for (const op of ['getData', 'getChildren', 'exists'] as const) {
      const orig = s[op].bind(this.session);
      s[op] = (...a: unknown[]) => {
        reads[op]++;
        return orig(...a);
      };
    }
    this.membership = new Membership(this.session, { dir, retry: RETRY, settleMs: 11_000 });
    this.membership.on('error', () => readErrors++);
    this.membership.on('snapshot', (snap) => {
      const now = this.#waiters;
      this.#waiters = now.filter((w) => {
        if (!w.pred(snap)) return true;
        w.done();
        return false;
      });
    });
  }
  start(): void {
    this.session.start();
    this.membership.start();
  }
  /** Resolves (with the time it became true) once the router's live set satisfies `pred`. */
  until(pred: Pred): Promise<number> {
    if (pred(this.membership.snapshot)) return Promise.resolve(performance.now());
    return new Promise((resolve) => this.#waiters.push({ pred, done: () => resolve(performance.now()) }));
  }
  async close(): Promise<void> {
    this.membership.close();
    await this.session.close();
  }
}

/** Time from t0 until every router satisfies `pred`; Infinity past the deadline. */
async function allHold(routers: Router[], pred: Pred, t0: () => number): Promise<number> {
  const timeout = sleep(WAIT_MS).then(() => Infinity);
  const all = Promise.all(routers.map((r) => r.until(pred))).then((ts) => Math.max(...ts) - t0());
  return Promise.race([all, timeout]);
}
const has = (id: string, version?: string): Pred => (s) => s.replicas.some((r) => r.id === id && (version === undefined || r.version === version));
const hasNot = (id: string): Pred => (s) => !s.replicas.some((r) => r.id === id);

// ---- the ensemble's own counters ------------------------------------------------------------------
function mntr(hostPort: string): Promise<Map<string, number>> {
  const [host, port] = hostPort.split(':');
  return new Promise((resolve) => {
    const out = new Map<string, number>();
    let buf = '';
    const sock = tcpConnect({ host: host!, port: Number(port) }, () => sock.end('mntr'));
    sock.setTimeout(2_000, () => sock.destroy());
    sock.on('data', (d: Buffer) => (buf += d.toString()));
    sock.on('error', () => resolve(out));
    sock.on('close', () => {
      for (const line of buf.split('\n')) {
        const [k, v] = line.split('\t');
        if (k !== undefined && v !== undefined && /^-?\d+(\.\d+)?$/.test(v)) out.set(k, Number(v));
      }
      resolve(out);
    });
  });
}
async function packetsReceived(): Promise<number> {
  const all = await Promise.all(connect!.split(',').map(mntr));
  return all.reduce((sum, m) => sum + (m.get('zk_packets_received') ?? 0), 0);
}
async function watchCount(): Promise<number> {
  const all = await Promise.all(connect!.split(',').map(mntr));
  return all.reduce((sum, m) => sum + (m.get('zk_watch_count') ?? 0), 0);
}

// ---- the router-only sidecar process --------------------------------------------------------------
const repo = join(import.meta.dirname, '..');
function sidecarCommand(): string[] {
  if (SIDECAR === 'bin') return [join(repo, 'bin', 'superset-ha.js')];
  if (SIDECAR !== 'image') throw new Error('SCALE_SIDECAR is bin or image');
  return imageEntrypoint().slice(1).map((a) => (a.endsWith('.ts') ? join(repo, a) : a));
}

interface Mem {
  /** VmRSS, MiB. */
  rss: number;
  /** RssAnon, MiB: what the process itself allocated; the rest is file-backed (mostly the Node binary's pages). */
  anon: number;
}
function memOf(pid: number | undefined): Mem {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
    return { rss: kb('VmRSS'), anon: kb('RssAnon') };
  } catch {
    return { rss: 0, anon: 0 };
  }
}

/** The sidecar's environment: ours without SHA_* overrides, and a compile cache warmed by one `--help`. */
function sidecarEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SHA_')));
  env.NODE_COMPILE_CACHE = join(OUT, 'scale-compile-cache');
  const warm = spawnSync(process.execPath, [...sidecarCommand(), '--help'], { env, stdio: 'ignore', timeout: 60_000 });
  if (warm.status !== 0) throw new Error(`warming the compile cache failed (status ${warm.status})`);
  return env;
}

class Sidecar {
  readonly child: ChildProcess;
  logBytes = 0;
  /** Time (epoch ms, from the log line) each replica id was first logged as present after a mark. */
  readonly seen = new Map<string, number>();
  /** Peak RSS and peak RssAnon since the last resetPeak() (sampled every 200 ms; each its own maximum). */
  peak: Mem = { rss: 0, anon: 0 };
  #sampler: NodeJS.Timeout;
  constructor() {
    const tmp = mkdtempSync(join(tmpdir(), 'sha-scale-'));
    const file = join(tmp, 'config.json');
    writeFileSync(
      file,
      JSON.stringify({
        cluster: 'scale',
        roles: { registrar: false, router: true },
        zookeeper: { connect, root, sessionTimeoutMs: 10_000 },
        replica: { id: 'scale-router', url: 'http://127.0.0.1:1' },
        proxy: { host: '127.0.0.1', port: SIDECAR_PORT },
        admin: { host: '127.0.0.1', port: SIDECAR_PORT + 1 },
        log: { level: 'info' },
      }),
    );
    this.child = spawn(process.execPath, [...sidecarCommand(), 'run', '--config', file], { stdio: ['ignore', 'pipe', 'inherit'], env: sidecarEnv() });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.logBytes += line.length + 1;
      if (!line.includes('"membership"')) return;
      try {
        const l = JSON.parse(line) as { event?: string; time?: string; live?: string[]; joined?: string[] };
        if (l.event !== 'membership' || l.time === undefined) return;
        const at = Date.parse(l.time);
        for (const id of [...(l.live ?? []), ...(l.joined ?? [])]) if (!this.seen.has(id)) this.seen.set(id, at);
      } catch {
        /* not JSON */
      }
    });
    this.#sampler = setInterval(() => {
      const m = this.mem();
      this.peak = { rss: Math.max(this.peak.rss, m.rss), anon: Math.max(this.peak.anon, m.anon) };
    }, 200);
    process.once('exit', () => {
      this.child.kill('SIGKILL'); // never outlive the bench
      rmSync(tmp, { recursive: true, force: true });
    });
  }
  mem(): Mem {
    return memOf(this.child.pid);
  }
  resetPeak(): void {
    this.peak = this.mem();
  }
  /** V8 heap used and total (MiB), from the sidecar's own /metrics (prom-client's default metrics). */
  async heap(): Promise<{ used: number; total: number }> {
    try {
      const text = await (await fetch(`http://127.0.0.1:${SIDECAR_PORT + 1}/metrics`)).text();
      const get = (name: string) => Number(new RegExp(`^superset_ha_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
      return { used: get('nodejs_heap_size_used_bytes'), total: get('nodejs_heap_size_total_bytes') };
    } catch {
      return { used: NaN, total: NaN };
    }
  }
  async ready(): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`http://127.0.0.1:${SIDECAR_PORT + 1}/healthz`);
        if (res.ok) return;
      } catch {
        /* not up yet */
      }
      await sleep(100);
    }
    throw new Error('the router-only sidecar did not answer /healthz within 30 s');
  }
  close(): void {
    clearInterval(this.#sampler);
    this.child.kill('SIGTERM');
  }
}

/**
 * The floors under the sidecar's memory, measured in this run with the sidecar's heap flags and a warmed
 * compile cache: a bare Node process, and bench/library-floor.ts (the project's dependencies, up and
 * connected, none of its code). Each is started twice (the first start warms its cache), measured 5 s
 * after it is ready, as the sidecar is, and stopped.
 */
async function floors(env: NodeJS.ProcessEnv): Promise<{ bare: Mem; libraries: Mem }> {
  const flags = imageEntrypoint().slice(1, -1);
  const measure = async (args: string[], warm: boolean): Promise<Mem> => {
    const child = spawn(process.execPath, [...flags, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${args.join(' ')} was not ready within 30 s`)), 30_000);
        createInterface({ input: child.stdout }).on('line', (line) => {
          if (line === 'ready') {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited (${code})`)));
        child.once('error', reject);
      });
      if (warm) {
        // A clean exit writes the compile cache (a killed process would leave it cold).
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(10_000)]);
        return { rss: 0, anon: 0 };
      }
      await sleep(5_000);
      return memOf(child.pid);
    } finally {
      child.kill('SIGKILL');
    }
  };
  const bare = ['-e', "console.log('ready'); setInterval(() => {}, 60_000)"];
  const libraries = [join(repo, 'bench', 'library-floor.ts'), connect!];
  await measure(libraries, true);
  return { bare: await measure(bare, false), libraries: await measure(libraries, false) };
}

// ---- statistics -----------------------------------------------------------------------------------
const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)} ms` : 'timeout');
const lat = (xs: number[]) => `p50 ${ms(pct(xs, 50))}, p99 ${ms(pct(xs, 99))}, max ${ms(Math.max(...xs))}`;

// ---- the run --------------------------------------------------------------------------------------
async function main(): Promise<void> {
  const rows: [string, string, string][] = [];
  const admin = newSession(5_000);
  admin.start();
  await connected(admin);
  await admin.mkdirp(dir);

  log('memory floors: bare Node, the libraries alone');
  const floor = await floors(sidecarEnv());
  log(`sidecar (router only) starting; root ${root}`);
  const sidecar = new Sidecar();
  await sidecar.ready();
  await sleep(5_000);
  const rssIdle0 = sidecar.mem();
  const heapIdle0 = await sidecar.heap();

  log(`registering ${REPLICAS} replicas`);
  const regs = Array.from({ length: REPLICAS }, (_, i) => new Registrant(`r${String(i).padStart(4, '0')}`));
  for (let i = 0; i < regs.length; i += 20) await Promise.all(regs.slice(i, i + 20).map((r) => r.up('v0')));

  log(`cold start of ${ROUTERS} routers`);
  const routers = Array.from({ length: ROUTERS }, () => new Router());
  const coldT0 = performance.now();
  for (const r of routers) r.start();
  const cold = await allHold(routers, (s) => s.replicas.length === REPLICAS && !s.stale, () => coldT0);
  await Promise.all(routers.map((r) => r.membership.idle()));
  await sleep(1_000);
  rows.push([`cold start: ${ROUTERS} routers hold all ${REPLICAS}`, ms(cold), '< 1 s']);

  await sleep(4_000);
  const rss200 = sidecar.mem();
  const heap200 = await sidecar.heap();

  log(`${CHANGES} single changes`);
  const single: number[] = [];
  const singleReads: number[] = [];
  const singlePackets: number[] = [];
  const sidecarJoin: number[] = [];
  const changer = newSession(5_000);
  changer.start();
  await connected(changer);
  for (let k = 0; k < CHANGES; k++) {
    const id = `x${String(Math.floor(k / 2)).padStart(4, '0')}`;
    const join = k % 2 === 0;
    const r0 = totalReads();
    const p0 = await packetsReceived();
    const wall0 = Date.now();
    const t0 = performance.now();
    const holds = allHold(routers, join ? has(id) : hasNot(id), () => t0);
    if (join) await changer.create(`${dir}/${id}`, payload(id, 'v0'), 'ephemeral');
    else await changer.remove(`${dir}/${id}`);
    single.push(await holds);
    await sleep(300); // let the watch re-arms land before counting
    await Promise.all(routers.map((r) => r.membership.idle()));
    singleReads.push(totalReads() - r0);
    singlePackets.push((await packetsReceived()) - p0);
    if (join) {
      const at = sidecar.seen.get(id);
      sidecarJoin.push(at === undefined ? Infinity : Math.max(0, at - wall0));
    }
  }
  const rssAfterSingle = sidecar.mem();
  const heapAfterSingle = await sidecar.heap();
  rows.push([`one change → all ${ROUTERS} routers hold it (${CHANGES} changes)`, lat(single), 'p99 < 100 ms']);
  rows.push([
    `ZooKeeper reads per change, all ${ROUTERS} routers (counted at the routers)`,
    `median ${pct(singleReads, 50)}, max ${Math.max(...singleReads)}`,
    `≈ ${ROUTERS} (one per router) + watch re-arm`,
  ]);
  rows.push([`packets the 3 servers received per change (mntr, all clients incl. pings)`, `median ${pct(singlePackets, 50)}`, '—']);
  rows.push([`one join → the router-only sidecar logs it (${sidecarJoin.length} joins; log time, ms resolution)`, lat(sidecarJoin), 'p99 < 50 ms']);

  log(`rolling restart of all ${REPLICAS} at ${RATE}/s, ${ROUNDS} round(s)`);
  const roundRss: Mem[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    sidecar.resetPeak();
    const r0 = totalReads();
    const p0 = await packetsReceived();
    const version = `v${round}`;
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    const each: Promise<number>[] = [];
    for (let i = 0; i < regs.length; i++) {
      const wait = started + (i * 1000) / RATE - performance.now();
      if (wait > 0) await sleep(wait);
      const reg = regs[i]!;
      each.push(
        (async () => {
          await reg.down();
          let t0 = 0;
          const holds = allHold(routers, has(reg.id, version), () => t0);
          t0 = await reg.up(version);
          return holds;
        })(),
      );
    }
    const lats = await Promise.all(each);
    await sleep(500);
    await Promise.all(routers.map((r) => r.membership.idle()));
    const n = totalReads() - r0;
    const packets = (await packetsReceived()) - p0;
    const cpu = process.cpuUsage(cpu0);
    const busy = (cpu.user + cpu.system) / 1000 / (performance.now() - started);
    roundRss.push(sidecar.peak);
    rows.push([
      `rolling round ${round}: restart → all routers hold it`,
      lat(lats),
      'p99 < 200 ms',
    ]);
    rows.push([
      `rolling round ${round}: reads (all routers) / per change (${2 * REPLICAS} changes)`,
      `${n} / ${(n / (2 * REPLICAS)).toFixed(0)}; mntr packets ${packets}; bench process CPU ${(100 * busy).toFixed(0)}% of a core`,
      `≈ ${ROUTERS} per change`,
    ]);
  }
  const watches = await watchCount();

  log(`idle ${IDLE_S} s`);
  sidecar.resetPeak();
  await sleep(IDLE_S * 1000);
  const rssIdleEnd = sidecar.mem();
  const heapIdleEnd = await sidecar.heap();
  const both = (m: Mem) => `${m.rss.toFixed(0)} (${m.anon.toFixed(0)})`;
  const heapOf = (h: { used: number; total: number }) => `${h.used.toFixed(0)}/${h.total.toFixed(0)}`;
  rows.push([
    `RSS (RssAnon) of one router-only sidecar, MiB: 0 → ${REPLICAS} replicas → after single changes`,
    `${both(rssIdle0)} → ${both(rss200)} → ${both(rssAfterSingle)}`,
    '< 80 MiB',
  ]);
  rows.push(['RSS (RssAnon) peak per rolling round, MiB', roundRss.map(both).join(', '), '< 80 MiB, flat']);
  rows.push([`RSS (RssAnon) after ${IDLE_S} s idle (peak while idle), MiB`, `${both(rssIdleEnd)} (${both(sidecar.peak)})`, '< 80 MiB']);
  rows.push([
    'its V8 heap used/total, MiB: 0 → 200 → after single changes → idle',
    `${heapOf(heapIdle0)} → ${heapOf(heap200)} → ${heapOf(heapAfterSingle)} → ${heapOf(heapIdleEnd)}`,
    '—',
  ]);
  rows.push(['floor, same flags, same run: a bare Node process, RSS (RssAnon) MiB', both(floor.bare), '—']);
  rows.push(['floor: the libraries alone (bench/library-floor.ts: fastify listening, undici, prom-client, pino, zod, yaml, node-zookeeper-client connected)', both(floor.libraries), '—']);
  rows.push(['log volume of that sidecar over the run', `${(sidecar.logBytes / 1024).toFixed(0)} KiB`, 'one short line per change']);
  rows.push(['failed membership reads at the routers (retried), whole run', String(readErrors), '0']);
  rows.push(['watches on the ensemble at the end (mntr zk_watch_count, summed)', String(watches), '—']);

  sidecar.close();
  await Promise.all([...routers.map((r) => r.close()), ...regs.map((r) => r.down()), changer.close()]);
  await admin.close();

  const out = [
    `## bench/scale.sh — ${LABEL}`,
    '',
    `${REPLICAS} replicas, ${ROUTERS} routers, ${CHANGES} single changes, ${ROUNDS} rolling round(s) at ${RATE}/s; sidecar: ${SIDECAR === 'bin' ? 'bin/superset-ha.js' : 'image (the Dockerfile ENTRYPOINT command line)'}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} (${cpus().length} cores); ${new Date().toISOString()}`,
    '',
    '| measure | measured | target |',
    '|---|---|---|',
    ...rows.map(([a, b, c]) => `| ${a} | ${b} | ${c} |`),
    '',
  ].join('\n');
  process.stdout.write(out);
}

const hardStop = setTimeout(() => {
  log('took longer than SCALE_DEADLINE_S: giving up');
  process.exit(1);
}, env('SCALE_DEADLINE_S', 1_200) * 1000);
hardStop.unref();
main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
