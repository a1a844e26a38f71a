import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { adminMain } from '../../src/cli/admin.ts';
import { ErrorCode } from '../../src/errors.ts';
import { Watcher, testRoot, zkTestOptions } from '../support/harness.ts';
import { metricValue } from '../support/proxy-harness.ts';
import { CountingUpstream, connected, newSecret, secureApp, session, type AuthSpec } from '../support/secure-zk.ts';
import { runCli, writeConfig } from '../support/sidecar-process.ts';

/** The admin CLI in-process (the same code the binary runs), to keep this file's process count low. */
async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await adminMain(args, { out: (t) => (stdout += t), err: (t) => (stderr += t) }, { ...process.env, ...env });
  return { code, stdout, stderr };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

describe('shared runtime config in <root>/config (real ZooKeeper)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  async function started(a: ReturnType<typeof secureApp>): Promise<ReturnType<typeof secureApp>> {
    cleanups.push(() => a.app.close());
    // Returns once the sidecar has created (or checked) the coordination nodes with its ACLs. A client without
    // the credentials that creates a path first (the test's Watcher, making <root>/replicas) would otherwise
    // race it and could leave the root open to anyone, which the CLI then rightly refuses (SHA_ZK_ACL_OPEN).
    const laidOut = new Promise<void>((resolve) => a.app.coordination.once('layout', () => resolve()));
    await a.app.start();
    await laidOut;
    return a;
  }

  async function writer(auth: AuthSpec, root: string) {
    const s = session(auth, root);
    cleanups.push(() => s.close());
    return connected(s);
  }

  /** A config file for the CLI, authenticated like the sidecars (secret from a file). */
  function cliConfig(root: string, auth?: AuthSpec): string {
    const dir = mkdtempSync(join(tmpdir(), 'sha-secret-'));
    const secretFile = join(dir, 'zk-secret');
    if (auth) writeFileSync(secretFile, `${auth.secret}\n`, { mode: 0o600 });
    return writeConfig({
      zookeeper: { ...zkTestOptions, root, ...(auth ? { auth: { user: auth.user, secretFile } } : {}) },
      replica: { id: 'operator', url: 'http://127.0.0.1:1' },
    });
  }

  it('a change reaches every sidecar within a second (measured), and a bad document is kept out', async () => {
    const root = testRoot();
    const auth: AuthSpec = { user: 'superset-ha', secret: newSecret() };
    const handles: ReturnType<typeof secureApp>[] = [];
    for (let i = 0; i < 4; i++) handles.push(await started(secureApp({ root, id: `router-${i}`, url: 'http://127.0.0.1:1', auth, roles: { registrar: false } })));
    const apps = handles.map((h) => h.app);
    const w = await writer(auth, root);
    for (const a of apps) await expect.poll(() => a.coordination.runtime.current.version, { timeout: 10_000 }).toBe(0);

    // Baseline in the same run: a bare data watch on another session, i.e. ZooKeeper's own notification time.
    const observer = await writer(auth, root);
    const latencies: number[] = [];
    const baseline: number[] = [];
    for (let round = 1; round <= 20; round++) {
      const maxAttempts = (round % 9) + 1;
      const seen = apps.map((a) => new Promise<number>((resolve) => a.coordination.runtime.once('change', () => resolve(performance.now()))));
      let fired!: (t: number) => void;
      const watched = new Promise<number>((resolve) => (fired = resolve));
      await observer.getData(`${root}/config`, () => fired(performance.now()));
      const t0 = performance.now();
      await w.setData(`${root}/config`, Buffer.from(JSON.stringify({ schemaVersion: 1, retry: { maxAttempts } })));
      const at = await Promise.all(seen);
      latencies.push(Math.max(...at) - t0); // the slowest of the four sidecars
      baseline.push((await watched) - t0);
      for (const a of apps) expect(a.coordination.tuning.retry.maxAttempts).toBe(maxAttempts);
    }
    latencies.sort((a, b) => a - b);
    baseline.sort((a, b) => a - b);
    const fmt = (xs: number[]) => `p50 ${percentile(xs, 0.5).toFixed(1)} ms, p95 ${percentile(xs, 0.95).toFixed(1)} ms, max ${xs.at(-1)!.toFixed(1)} ms`;
    console.log(`[runtime-config] write -> applied on all 4 sidecars, 20 changes: ${fmt(latencies)}; baseline (bare data watch, same writes): ${fmt(baseline)}`);
    expect(latencies.at(-1)).toBeLessThan(1000);

    // Bad documents: rejected, counted, logged with a code; the last good one stays in force.
    const good = apps[0]!.coordination.runtime.current;
    // One at a time: a watcher may skip a version that is replaced before it reads (ZooKeeper promises the
    // latest state, not every step), and each version is counted once.
    const bads = ['{not json', JSON.stringify({ schemaVersion: 1, retry: { maxAttempts: 0 } }), JSON.stringify({ schemaVersion: 2 }), JSON.stringify({ schemaVersion: 1, replicas: { 'bad id!': { weight: 5 } } })];
    for (const [i, bad] of bads.entries()) {
      await w.setData(`${root}/config`, Buffer.from(bad));
      for (const h of handles) await expect.poll(() => metricValue(h.metrics, 'superset_ha_runtime_config_rejected_total'), { timeout: 5_000 }).toBe(i + 1);
    }
    for (const h of handles) {
      expect(h.app.coordination.runtime.current).toEqual(good);
      expect(h.app.coordination.tuning.retry.maxAttempts).toBe(good.config.retry!.maxAttempts);
      expect(await metricValue(h.metrics, 'superset_ha_runtime_config_version')).toBe(good.version);
    }
    const { lines } = handles[0]!;
    expect(lines.filter((l) => l.code === ErrorCode.RUNTIME_CONFIG_INVALID)).toHaveLength(4);
    // And a good document after them applies again.
    await w.setData(`${root}/config`, Buffer.from(JSON.stringify({ schemaVersion: 1, outlier: { consecutiveFailures: 2 } })));
    for (const a of apps) await expect.poll(() => a.coordination.tuning.outlier.consecutiveFailures, { timeout: 2_000 }).toBe(2);
  });

  it('maintenance drains a replica without a restart: its registrar deregisters, routers stop sending, weights apply', async () => {
    const root = testRoot();
    const auth: AuthSpec = { user: 'superset-ha', secret: newSecret() };
    const ups = [new CountingUpstream('r1'), new CountingUpstream('r2')];
    const handles: ReturnType<typeof secureApp>[] = [];
    for (const [i, u] of ups.entries()) {
      cleanups.push(() => u.close());
      const port = await u.start();
      handles.push(await started(secureApp({ root, id: `r${i + 1}`, url: `http://127.0.0.1:${port}`, auth, proxy: { preferLocal: false } })));
    }
    const apps: App[] = handles.map((h) => h.app);
    const watcher = new Watcher(root).start();
    cleanups.push(() => watcher.close());
    await watcher.until((ids) => ids.join() === 'r1,r2');
    for (const a of apps) await expect.poll(() => a.table!.upstreams.length, { timeout: 5_000 }).toBe(2);

    const cfg = cliConfig(root, auth);
    const set = await runCli(['config', 'set', '--config', cfg, '--merge', JSON.stringify({ replicas: { r1: { maintenance: true, note: 'kernel upgrade' }, r2: { weight: 7 } } })]);
    expect(set.stderr).toContain('wrote');
    expect(set.code).toBe(0);
    await watcher.until((ids) => ids.join() === 'r2');
    expect(apps[0]!.registration!.registered).toBe(false);
    for (const a of apps) {
      await expect.poll(() => a.table!.upstreams.map((u) => `${u.id}:${u.weight}`).join(), { timeout: 2_000 }).toBe('r2:7');
    }
    const before = ups[0]!.hits;
    for (const a of apps) {
      for (let i = 0; i < 10; i++) {
        const r = await request(`http://127.0.0.1:${a.proxy!.address.port}/api/v1/dashboard/`);
        expect(await r.body.text()).toBe('r2');
      }
    }
    expect(ups[0]!.hits).toBe(before);
    expect(await metricValue(handles[0]!.metrics, 'superset_ha_maintenance')).toBe(1);

    // Out of maintenance: registered again, routed to again.
    expect((await cli(['config', 'set', '--config', cfg, '--merge', JSON.stringify({ replicas: { r1: null } })])).code).toBe(0);
    await watcher.until((ids) => ids.join() === 'r1,r2');
    for (const a of apps) await expect.poll(() => a.table!.upstreams.map((u) => u.id).join(), { timeout: 2_000 }).toBe('r1,r2');
  });

  it('CLI: get, set (validated first), edit through $EDITOR, and a lost compare-and-set shows the diff', async () => {
    const root = testRoot();
    const auth: AuthSpec = { user: 'superset-ha', secret: newSecret() };
    await started(secureApp({ root, id: 'router', url: 'http://127.0.0.1:1', auth, roles: { registrar: false } }));
    const cfg = cliConfig(root, auth);
    // The sidecar creates <root>/config (version 0) once its session is up.
    await expect.poll(async () => (await cli(['config', 'get', '--config', cfg])).stderr, { timeout: 10_000 }).toContain('version 0');

    const get0 = await cli(['config', 'get', '--config', cfg]);
    expect(JSON.parse(get0.stdout)).toEqual({ schemaVersion: 1 });
    expect(get0.stderr).toContain(`${root}/config version 0`);

    // Invalid: refused before writing, with the field and a stable code.
    const bad = await cli(['config', 'set', '--config', cfg, '--merge', '{"retry":{"budgetRatio":-1}}']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(ErrorCode.RUNTIME_CONFIG_INVALID);
    expect(bad.stderr).toContain('retry.budgetRatio');
    expect((await cli(['config', 'get', '--config', cfg])).stderr).toContain('version 0');

    const ok = await cli(['config', 'set', '--config', cfg, '--merge', '{"retry":{"maxAttempts":2}}']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('+ retry.maxAttempts: 2');

    // edit: $EDITOR gets a file holding the document and saves a new one.
    const dir = mkdtempSync(join(tmpdir(), 'sha-editor-'));
    const editor = join(dir, 'editor.sh');
    writeFileSync(editor, `#!/bin/sh\nsed -i 's/"maxAttempts": 2/"maxAttempts": 4/' "$1"\n`);
    chmodSync(editor, 0o755);
    const edited = await cli(['config', 'edit', '--config', cfg], { EDITOR: editor, VISUAL: '' });
    expect(edited.stderr).toContain('version 2');
    expect(edited.code).toBe(0);
    expect(JSON.parse((await cli(['config', 'get', '--config', cfg])).stdout)).toEqual({ schemaVersion: 1, retry: { maxAttempts: 4 } });

    // Two operators: while the first edits, a second one writes. The first must not overwrite it.
    const racer = join(dir, 'racer.sh');
    writeFileSync(
      racer,
      `#!/bin/sh\n"${process.execPath}" "${join(import.meta.dirname, '..', '..', 'src', 'main.ts')}" config set --config "${cfg}" --merge '{"replicas":{"r9":{"maintenance":true}}}' >/dev/null 2>&1 || exit 9\n` +
        `sed -i 's/"maxAttempts": 4/"maxAttempts": 6/' "$1"\n`,
    );
    chmodSync(racer, 0o755);
    const lost = await cli(['config', 'edit', '--config', cfg], { EDITOR: racer, VISUAL: '' });
    expect(lost.code).toBe(3);
    expect(lost.stderr).toContain(ErrorCode.RUNTIME_CONFIG_CONFLICT);
    expect(lost.stderr).toContain('is at version 3, not 2');
    expect(lost.stderr).toContain('Their change:\n  + replicas.r9.maintenance: true');
    expect(lost.stderr).toMatch(/Your change, against what is there now:\n(.*\n)* {2}- retry.maxAttempts: 4\n {2}\+ retry.maxAttempts: 6/);
    expect(JSON.parse((await cli(['config', 'get', '--config', cfg])).stdout)).toEqual({ schemaVersion: 1, retry: { maxAttempts: 4 }, replicas: { r9: { maintenance: true } } });
    // A stale --expect-version is a conflict too.
    const stale = await cli(['config', 'set', '--config', cfg, '--expect-version', '2', '--merge', '{"retry":{"maxAttempts":1}}']);
    expect(stale.code).toBe(3);
    expect(stale.stderr).toContain(ErrorCode.RUNTIME_CONFIG_CONFLICT);

    // Without the credentials the CLI cannot write (the node is the sidecars' alone), and says so.
    const bare = await cli(['config', 'set', '--config', cliConfig(root), '--merge', '{"retry":{"maxAttempts":1}}']);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain(ErrorCode.ZK_NO_AUTH);
    // zk secure takes over nodes an unauthenticated client left open.
    const openRoot = testRoot();
    const opener = session(undefined, openRoot);
    cleanups.push(() => opener.close());
    await (await connected(opener)).mkdirp(`${openRoot}/replicas`);
    const openCfg = cliConfig(openRoot, auth);
    const refusedSet = await cli(['config', 'set', '--config', openCfg, '--merge', '{"retry":{"maxAttempts":1}}']);
    expect(refusedSet.code).toBe(1);
    expect(refusedSet.stderr).toContain(ErrorCode.ZK_ACL_OPEN);
    const secured = await cli(['zk', 'secure', '--config', openCfg]);
    expect(secured.code).toBe(0);
    expect(secured.stdout).toContain(`ACLs rewritten: ${openRoot} (world:anyone has cdwa; our identity lacks full rights), ${openRoot}/replicas`);
    await expect(opener.create(`${openRoot}/replicas/evil`, Buffer.alloc(0), 'ephemeral')).rejects.toMatchObject({ code: ErrorCode.ZK_NO_AUTH });
    expect((await cli(['config', 'set', '--config', openCfg, '--merge', '{"retry":{"maxAttempts":1}}'])).code).toBe(0);

    // The secret never appears in what the CLI prints.
    for (const r of [get0, bad, ok, edited, lost, stale, bare, refusedSet, secured]) expect(r.stdout + r.stderr).not.toContain(auth.secret);
  });
});
