import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployTools, repoRoot, run, type DeployTools } from '../support/deploy-tools.ts';
import { Watcher, testRoot, zkTestOptions } from '../support/harness.ts';
import { freePort } from '../support/ports.ts';
import { FakeUpstream } from '../support/upstream.ts';

// The image, built from the repository's Dockerfile unchanged by Debian's buildah (no daemon, vfs storage,
// chroot isolation) on a stand-in for node:24-bookworm-slim (scripts/image.sh), then run for real: the
// sidecar inside it registers an upstream in the real ensemble, proxies to it and drains on SIGTERM.
const IMAGE_SH = join(repoRoot, 'scripts', 'image.sh');
const buildah = (args: string[], timeoutMs = 120_000) => run(IMAGE_SH, ['buildah', ...args], { timeoutMs });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let tools: DeployTools;
let image: string;
const containers: string[] = [];

beforeAll(() => {
  tools = deployTools();
  const t0 = Date.now();
  const r = run(IMAGE_SH, ['build'], { timeoutMs: 20 * 60_000 });
  if (r.status !== 0) throw new Error(`scripts/image.sh build failed:\n${r.out}`);
  image = r.out.trim().split('\n').pop()!;
  console.log(`[measure] scripts/image.sh build (stand-in base cached or built, then the Dockerfile): ${Date.now() - t0} ms`);
}, 25 * 60_000);

afterAll(() => {
  for (const c of containers) buildah(['rm', c]);
});

function container(): string {
  const r = buildah(['from', '--pull-never', image]);
  expect(r.status, r.out).toBe(0);
  const c = r.out.trim().split('\n').pop()!;
  containers.push(c);
  return c;
}

function configDir(config: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'sha-image-'));
  writeFileSync(join(dir, 'config.yaml'), JSON.stringify(config)); // JSON is YAML
  chmodSync(dir, 0o755); // readable by the image's uid 1000, as a mounted ConfigMap is
  return dir;
}

/** Processes below `root` (buildah run → the container's process), from ps. */
function descendants(root: number): { pid: number; args: string }[] {
  const rows = run('ps', ['-e', '-o', 'pid=,ppid=,args=']).out.trim().split('\n').map((l) => l.trim().split(/\s+/));
  const procs = rows.map(([pid, ppid, ...args]) => ({ pid: Number(pid), ppid: Number(ppid), args: args.join(' ') }));
  const found: { pid: number; args: string }[] = [];
  const walk = (p: number) => {
    for (const c of procs.filter((x) => x.ppid === p)) {
      found.push(c);
      walk(c.pid);
    }
  };
  walk(root);
  return found;
}

interface ImageConfig {
  config: { User: string; Entrypoint: string[]; Cmd: string[]; StopSignal: string; ExposedPorts: Record<string, unknown>; Healthcheck?: { Test: string[] } };
}

describe('the sidecar image', () => {
  it('passes hadolint at warning level, and hadolint fails a bad Dockerfile', () => {
    const good = run(tools.HADOLINT, ['--failure-threshold', 'warning', join(repoRoot, 'Dockerfile')]);
    expect(good.out).toBe('');
    expect(good.status).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), 'sha-hadolint-'));
    writeFileSync(join(dir, 'Dockerfile'), 'FROM node:latest\nRUN cd /app && npm install\nUSER root\n');
    const bad = run(tools.HADOLINT, ['--failure-threshold', 'warning', join(dir, 'Dockerfile')]);
    expect(bad.status).not.toBe(0);
    expect(bad.out).toMatch(/DL3007/); // :latest
  });

  it('is runtime-only, non-root, drains on SIGTERM and has a HEALTHCHECK on /healthz', () => {
    const r = buildah(['inspect', '--type', 'image', image]);
    expect(r.status, r.out).toBe(0);
    const cfg = (JSON.parse(r.out) as { Docker: ImageConfig }).Docker.config;
    expect(cfg.User).toBe('1000:1000');
    expect(cfg.StopSignal).toBe('SIGTERM');
    expect(cfg.Entrypoint).toEqual(['node', '--max-semi-space-size=16', '--max-old-space-size=160', '--heap-growing-percent=100', 'src/main.ts']);
    expect(cfg.Cmd).toEqual(['run', '--config', '/etc/superset-ha/config.yaml']);
    expect(Object.keys(cfg.ExposedPorts).sort()).toEqual(['8080/tcp', '9090/tcp']);
    expect(cfg.Healthcheck?.Test.join(' ')).toContain('/healthz');
    // No compiler, no dev dependencies in the image.
    const c = container();
    const ls = buildah(['run', c, '--', 'sh', '-c', 'id -u; ls node_modules; ls node_modules/.bin 2>/dev/null || true']);
    expect(ls.status, ls.out).toBe(0);
    const [uid, ...mods] = ls.out.trim().split('\n');
    expect(uid).toBe('1000');
    for (const dev of ['typescript', 'vitest', 'eslint', 'node']) expect(mods).not.toContain(dev);
    expect(mods).toContain('fastify');
    // The compile cache warmed at build time serves uid 1000 started as the ENTRYPOINT starts it (Node keys
    // the cache by some V8 flags too, --heap-growing-percent among them): no TypeScript transpiler loaded.
    const probe = 'process.on("exit", () => process.stdout.write(`transpiler loaded: ${process.moduleLoadList.some((m) => m.includes("amaro"))}\\n`))';
    const [node, ...entry] = cfg.Entrypoint;
    const asEntrypoint = [node!, ...entry.filter((a) => a.startsWith('--')), '--import', `data:text/javascript,${probe}`, ...entry.filter((a) => !a.startsWith('--')), '--help'];
    const start = buildah(['run', c, '--', ...asEntrypoint]);
    expect(start.status, start.out).toBe(0);
    expect(start.out).toContain('transpiler loaded: false');
    const cold = buildah(['run', '--env', 'NODE_DISABLE_COMPILE_CACHE=1', c, '--', ...asEntrypoint]);
    expect(cold.out).toContain('transpiler loaded: true'); // the probe can tell
  });

  it('check-config accepts a mounted config with env overrides and rejects a bad one with status 2', () => {
    const c = container();
    const dir = configDir({ zookeeper: { connect: 'zk-0.zk-hs:2181' }, replica: { id: 'set-by-env', url: 'http://127.0.0.1:8088' } });
    const ok = buildah(['run', '--volume', `${dir}:/etc/superset-ha:ro`, '--env', 'SHA_REPLICA__ID=superset-0', c, '--', 'node', 'src/main.ts', 'check-config', '--config', '/etc/superset-ha/config.yaml']);
    expect(ok.out).toContain('config ok');
    expect(ok.status).toBe(0);
    const bad = buildah(['run', '--volume', `${dir}:/etc/superset-ha:ro`, '--env', 'SHA_PROXY__PORT=eighty', c, '--', 'node', 'src/main.ts', 'check-config', '--config', '/etc/superset-ha/config.yaml']);
    expect(bad.out).toContain('SHA_CONFIG_INVALID');
    expect(bad.out).toContain('proxy.port');
    expect(bad.status).toBe(2);
  });

  it('runs: registers in the real ensemble, serves /healthz and /readyz, proxies, and drains on SIGTERM', async () => {
    const upstream = await new FakeUpstream('in-image').start();
    const root = testRoot();
    const watcher = new Watcher(root).start();
    const [adminPort, proxyPort] = [await freePort(), await freePort()];
    const dir = configDir({
      zookeeper: { ...zkTestOptions, root },
      replica: { id: 'in-image', url: upstream.url },
      health: { intervalMs: 300, timeoutMs: 250, rise: 1, fall: 2 },
      admin: { host: '127.0.0.1' },
      proxy: { host: '127.0.0.1' },
      shutdown: { drainDelayMs: 300, drainTimeoutMs: 2000 },
    });
    const c = container();
    // chroot isolation shares the host's network: the ports below are on the host's loopback.
    const child = spawn(
      IMAGE_SH,
      ['buildah', 'run', '--volume', `${dir}:/etc/superset-ha:ro`, '--env', `SHA_ADMIN__PORT=${adminPort}`, '--env', `SHA_PROXY__PORT=${proxyPort}`, c, '--', 'node', 'src/main.ts', 'run', '--config', '/etc/superset-ha/config.yaml'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const admin = `http://127.0.0.1:${adminPort}`;
      const deadline = Date.now() + 60_000; // start-up on a loaded shared machine
      for (;;) {
        const r = await fetch(`${admin}/readyz`).catch(() => undefined);
        if (r?.status === 200) break;
        if (Date.now() > deadline) throw new Error(`not ready within 60 s:\n${out}`);
        await sleep(200);
      }
      expect((await fetch(`${admin}/healthz`)).status).toBe(200);
      await watcher.until((ids) => ids.includes('in-image'));
      const res = await fetch(`http://127.0.0.1:${proxyPort}/api/v1/chart/`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { upstream: string }).upstream).toBe('in-image');
      expect(await (await fetch(`${admin}/metrics`)).text()).toMatch(/superset_ha_registered 1\b/);

      // SIGTERM to the process in the container (its pid namespace is the host's with chroot isolation).
      const inner = descendants(child.pid!).filter((p) => p.args.startsWith('/usr/local/bin/node src/main.ts run')).map((p) => p.pid);
      expect(inner.length).toBe(1);
      process.kill(inner[0]!, 'SIGTERM');
      await watcher.until((ids) => !ids.includes('in-image'), 5000);
      expect(await exited).toBe(0);
      expect(out).toMatch(/"event":"closed"/);
    } finally {
      for (const p of descendants(child.pid!).reverse()) process.kill(p.pid, 'SIGKILL');
      child.kill('SIGKILL');
      await watcher.close();
      await upstream.close();
    }
  }, 90_000);
});
