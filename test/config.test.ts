import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envOverrides, loadConfig, parseConfig, redactUrl } from '../src/config.ts';
import { ErrorCode, isSidecarError, type SidecarError } from '../src/errors.ts';

const minimal = {
  zookeeper: { connect: '127.0.0.1:2181' },
  replica: { id: 'superset-0', url: 'http://127.0.0.1:8088' },
};

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(isSidecarError(err, ErrorCode.CONFIG_INVALID)).toBe(true);
    return (err as SidecarError).details.problems as string[];
  }
  throw new Error('expected the config to be rejected');
}

describe('config', () => {
  it('fills defaults and derives the root and the Superset URL', () => {
    const c = parseConfig(minimal);
    expect(c.zookeeper.root).toBe('/superset-ha/default');
    expect(c.superset.url).toBe('http://127.0.0.1:8088');
    expect(c.health).toEqual({ intervalMs: 2000, fastIntervalMs: 250, timeoutMs: 1500, rise: 2, fall: 3 });
    expect(c.roles).toEqual({ registrar: true, router: true, elector: false });
    expect(c.admin.host).toBe('127.0.0.1');
    expect(Object.isFrozen(c.zookeeper)).toBe(true);
  });

  it('names the field and the reason for each bad value', () => {
    const problems = problemsOf(() =>
      parseConfig({
        zookeeper: { connect: 'not a connect string', sessionTimeoutMs: 5, settleMs: -1 },
        replica: { id: '../etc', url: 'ftp://x' },
        metadataDb: { url: 'sqlite:///x.db' },
      }),
    );
    expect(problems.some((p) => p.startsWith('zookeeper.connect:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('zookeeper.sessionTimeoutMs:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('zookeeper.settleMs:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('replica.id:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('replica.url:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('metadataDb.url:'))).toBe(true);
  });

  it('rejects replica URLs with credentials (published to every router) and bad trusted-proxy CIDRs', () => {
    for (const url of ['http://user:pw@127.0.0.1:8088', 'https://user@superset-0:8088/']) {
      expect(problemsOf(() => parseConfig({ ...minimal, replica: { id: 'superset-0', url } }))).toEqual([expect.stringMatching(/^replica\.url: .*user:password/)]);
    }
    // An @ after the authority is not userinfo.
    expect(parseConfig({ ...minimal, replica: { id: 'superset-0', url: 'http://127.0.0.1:8088/a@b' } }).replica.url).toBe('http://127.0.0.1:8088/a@b');
    const problems = problemsOf(() => parseConfig({ ...minimal, proxy: { trustedProxies: ['10.0.0.0/8', '10.0.0.0/33', 'ingress', '::1/129'] } }));
    expect(problems).toEqual([expect.stringMatching(/^proxy\.trustedProxies\.1:/), expect.stringMatching(/^proxy\.trustedProxies\.2:/), expect.stringMatching(/^proxy\.trustedProxies\.3:/)]);
    const c = parseConfig({ ...minimal, proxy: { trustedProxies: ['10.0.0.0/8', 'fd00::/8', '192.168.1.7'] } });
    expect(c.proxy.trustedProxies).toEqual(['10.0.0.0/8', 'fd00::/8', '192.168.1.7']);
    expect(parseConfig(minimal).proxy.trustedProxies).toEqual([]);
    expect(parseConfig(minimal).proxy.clientBodyTimeoutMs).toBe(30_000);
  });

  it('rejects unknown keys, so a typo is not silently ignored', () => {
    const problems = problemsOf(() => parseConfig({ ...minimal, helth: { rise: 1 } }));
    expect(problems.join('\n')).toMatch(/helth/);
  });

  it('rejects a health timeout longer than the interval', () => {
    const problems = problemsOf(() => parseConfig({ ...minimal, health: { intervalMs: 1000, timeoutMs: 2000 } }));
    expect(problems[0]).toMatch(/^health.timeoutMs:/);
  });

  it('reads SHA_ environment overrides into the right camelCase fields', () => {
    const env = { SHA_ZOOKEEPER__SESSIONTIMEOUTMS: '4000', SHA_REPLICA__ID: 'r-2', SHA_ROLES__ROUTER: 'false', OTHER: 'x', SHA_RUN_DIR: '/tmp/x' };
    expect(envOverrides(env)).toEqual({ zookeeper: { sessionTimeoutMs: '4000' }, replica: { id: 'r-2' }, roles: { router: 'false' } });
    const dir = mkdtempSync(join(tmpdir(), 'sha-config-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'zookeeper:\n  connect: 127.0.0.1:2181\nreplica:\n  id: r-1\n  url: http://127.0.0.1:8088\n');
    const c = loadConfig(file, env);
    expect(c.zookeeper.sessionTimeoutMs).toBe(4000);
    expect(c.replica.id).toBe('r-2');
    expect(c.roles.router).toBe(false);
  });

  it('fails on a typo inside a known section given in the environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sha-config-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify(minimal));
    expect(() => loadConfig(file, { SHA_ZOOKEEPER__SESION_TIMEOUT: '4000' })).toThrow(/sesion_timeout/);
  });

  it('refuses empty or non-numeric strings for numbers instead of coercing them to 0', () => {
    const problems = problemsOf(() => parseConfig({ ...minimal, health: { rise: '' } }));
    expect(problems[0]).toMatch(/^health.rise:/);
  });

  it('reports an unreadable file and a file that is not a mapping with their own codes', () => {
    expect(() => loadConfig('/nonexistent/superset-ha.yaml', {})).toThrow(expect.objectContaining({ code: ErrorCode.CONFIG_UNREADABLE }));
    const dir = mkdtempSync(join(tmpdir(), 'sha-config-'));
    writeFileSync(join(dir, 'list.yaml'), '- a\n- b\n');
    expect(() => loadConfig(join(dir, 'list.yaml'), {})).toThrow(expect.objectContaining({ code: ErrorCode.CONFIG_INVALID }));
    writeFileSync(join(dir, 'broken.yaml'), 'zookeeper: [unclosed\n');
    expect(() => loadConfig(join(dir, 'broken.yaml'), {})).toThrow(expect.objectContaining({ code: ErrorCode.CONFIG_INVALID }));
  });

  it('redacts passwords in URLs it logs', () => {
    expect(redactUrl('postgresql://superset:s3cret@db:5432/superset')).toBe('postgresql://superset:***@db:5432/superset');
    expect(redactUrl('not a url')).toBe('<unparseable url>');
  });
});

describe('shipped example configs', () => {
  it.each(['default.yaml', 'k8s.yaml'])('config/%s validates', (name) => {
    const c = loadConfig(join(import.meta.dirname, '..', 'config', name), {
      SHA_METADATADB__URL: 'postgresql://u:p@db:5432/superset',
      // k8s.yaml turns ZooKeeper auth on and takes the secret from the environment (a Kubernetes Secret).
      ...(name === 'k8s.yaml' ? { SHA_ZOOKEEPER__AUTH__SECRET: 'a-secret-from-the-environment' } : {}),
    });
    expect(c.replica.id).toMatch(/^[a-z]/);
    expect(c.metadataDb?.url).toMatch(/^postgresql:/);
  });
});
