import { describe, expect, it } from 'vitest';
import { runCli, writeConfig } from './support/sidecar-process.ts';

describe('superset-ha CLI', () => {
  it('exits 2 with the field and reason for a bad config', async () => {
    const file = writeConfig({ zookeeper: { connect: '127.0.0.1:2181', sessionTimeoutMs: 'soon' }, replica: { id: 'r1', url: 'http://127.0.0.1:8088' } });
    const r = await runCli(['run', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('SHA_CONFIG_INVALID');
    expect(r.stderr).toContain('zookeeper.sessionTimeoutMs');
  });

  it('exits 2 naming a missing required field', async () => {
    const r = await runCli(['check-config', '--config', writeConfig({ zookeeper: { connect: '127.0.0.1:2181' } })]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/replica: /);
  });

  it('exits 2 for an unreadable file with its own code', async () => {
    const r = await runCli(['run', '--config', '/nonexistent.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('SHA_CONFIG_UNREADABLE');
  });

  it('accepts a good config in check-config, with env overrides applied', async () => {
    const file = writeConfig('zookeeper:\n  connect: 127.0.0.1:2181\nreplica:\n  url: http://127.0.0.1:8088\n', 'yaml');
    const r = await runCli(['check-config', '--config', file], { SHA_REPLICA__ID: 'from-env' });
    expect(r.stdout).toBe('config ok\n');
    expect(r.code).toBe(0);
  });

  it('names an unknown command or a missing --config with SHA_USAGE', async () => {
    const unknown = await runCli(['start', '--config', 'x.yaml']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('SHA_USAGE: unknown command "start"');
    const missing = await runCli(['run']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('SHA_USAGE: --config FILE is required');
  });

  it('prints usage and exits 2 without a command', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('usage: superset-ha run --config FILE');
  });
});
