// A small drill target: lightweight upstreams (scripts/upstream.sh) standing in for Superset replicas, a
// superset-ha sidecar beside each (scripts/sidecar.sh), on the real ZooKeeper ensemble. Used by the drill
// tests and by bench/failover.sh; faults go through the same scripts as on the demo.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseTarget, type Target } from '../../src/drills/target.ts';

const REPO = path.resolve(import.meta.dirname, '..', '..');
const run = promisify(execFile);

export interface SmallStackOptions {
  readonly dir: string;
  readonly zkConnect: string;
  /** One port each per replica: its upstream, its sidecar's proxy and admin listeners. */
  readonly upstreamPorts: readonly number[];
  readonly proxyPorts: readonly number[];
  readonly adminPorts: readonly number[];
  readonly cluster: string;
  /** Sidecar config fields on top of production defaults (tests shorten nothing by default). */
  readonly sidecar?: Record<string, unknown>;
}

export function smallStackEnv(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, SHA_UPSTREAM_DIR: path.join(dir, 'upstreams'), SHA_SIDECAR_DIR: path.join(dir, 'sidecars') };
}

async function script(dir: string, name: string, ...args: string[]): Promise<string> {
  const r = await run(path.join(REPO, 'scripts', name), args, { env: smallStackEnv(dir), cwd: REPO, timeout: 60_000 });
  return r.stdout.trim();
}

/** Starts the upstreams and sidecars (idempotent) and returns the target describing them. */
export async function startSmallStack(o: SmallStackOptions): Promise<Target> {
  const env = smallStackEnv(o.dir);
  mkdirSync(env.SHA_SIDECAR_DIR!, { recursive: true });
  for (let i = 0; i < o.upstreamPorts.length; i++) {
    await script(o.dir, 'upstream.sh', 'start-one', String(i), String(o.upstreamPorts[i]!));
    const cfg = {
      cluster: o.cluster,
      zookeeper: { connect: o.zkConnect },
      replica: { id: `up-${i}`, url: `http://127.0.0.1:${o.upstreamPorts[i]!}` },
      proxy: { host: '127.0.0.1', port: o.proxyPorts[i]! },
      admin: { host: '127.0.0.1', port: o.adminPorts[i]! },
      shutdown: { drainDelayMs: 200, drainTimeoutMs: 2000 },
      log: { level: 'info' },
      ...o.sidecar,
    };
    writeFileSync(path.join(env.SHA_SIDECAR_DIR!, `sidecar-${i}.json`), JSON.stringify(cfg, null, 2));
    await script(o.dir, 'sidecar.sh', 'start-one', String(i));
  }
  const wrap = (s: string, ...a: string[]) => ['env', `SHA_UPSTREAM_DIR=${env.SHA_UPSTREAM_DIR}`, `SHA_SIDECAR_DIR=${env.SHA_SIDECAR_DIR}`, `scripts/${s}`, ...a];
  const health = (o.sidecar?.health ?? {}) as { intervalMs?: number; fall?: number; rise?: number };
  return parseTarget(
    {
      name: `small-stack-${o.cluster}`,
      kind: 'local',
      cwd: REPO,
      sidecars: Array.from({ length: o.upstreamPorts.length }, (_, i) => ({ id: `sidecar-${i}`, index: i, proxy: `http://127.0.0.1:${o.proxyPorts[i]!}`, admin: `http://127.0.0.1:${o.adminPorts[i]!}`, replica: `up-${i}` })),
      replicas: Array.from({ length: o.upstreamPorts.length }, (_, i) => ({ id: `up-${i}`, index: i, url: `http://127.0.0.1:${o.upstreamPorts[i]!}` })),
      zookeeper: { connect: o.zkConnect, sessionTimeoutMs: 10_000 },
      http: { readPath: '/api/v1/dashboard/', writePath: '/api/v1/sqllab/execute/' },
      receiveLogs: Array.from({ length: o.upstreamPorts.length }, (_, i) => path.join(env.SHA_UPSTREAM_DIR!, `upstream-${i}.log`)),
      health: { intervalMs: health.intervalMs ?? 2000, fall: health.fall ?? 3, rise: health.rise ?? 2 },
      actions: {
        'replica.kill': wrap('upstream.sh', 'kill-one', '{replica}'),
        'replica.pause': wrap('upstream.sh', 'pause-one', '{replica}'),
        'replica.resume': wrap('upstream.sh', 'resume-one', '{replica}'),
        'replica.stop': wrap('upstream.sh', 'stop-one', '{replica}'),
        'replica.start': wrap('upstream.sh', 'start-one', '{replica}'),
        'replica.status': wrap('upstream.sh', 'status'),
        'sidecar.kill': wrap('sidecar.sh', 'kill-one', '{sidecar}'),
        'sidecar.start': wrap('sidecar.sh', 'start-one', '{sidecar}', '{env...}'),
        'sidecar.status': wrap('sidecar.sh', 'status'),
        'zk.killLeader': ['scripts/zk.sh', 'kill-leader'],
        'zk.stopOne': ['scripts/zk.sh', 'stop-one', '{server}'],
        'zk.leader': ['scripts/zk.sh', 'leader'],
        'zk.pauseAll': ['scripts/zk.sh', 'pause-all'],
        'zk.resumeAll': ['scripts/zk.sh', 'resume-all'],
        'zk.start': ['scripts/zk.sh', 'start'],
        'zk.status': ['scripts/zk.sh', 'status'],
      },
    },
    'small stack',
  );
}

export async function stopSmallStack(dir: string): Promise<void> {
  await script(dir, 'sidecar.sh', 'stop').catch(() => undefined);
  await script(dir, 'upstream.sh', 'stop').catch(() => undefined);
}
