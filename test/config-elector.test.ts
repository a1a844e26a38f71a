import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { ErrorCode } from '../src/errors.ts';

const base = { zookeeper: { connect: '127.0.0.1:2181' }, replica: { id: 'r1', url: 'http://127.0.0.1:8088' } };

function problems(input: unknown): string[] {
  try {
    parseConfig(input);
    return [];
  } catch (err) {
    expect(err).toMatchObject({ code: ErrorCode.CONFIG_INVALID });
    return (err as { details: { problems: string[] } }).details.problems;
  }
}

describe('config: elector and dependencies', () => {
  it('defaults: elector off, stop 3 s, step down at half the session timeout, no dependencies', () => {
    const c = parseConfig(base);
    expect(c.roles.elector).toBe(false);
    expect(c.elector).toMatchObject({ stopTimeoutMs: 3_000, disconnectFraction: 0.5, dieWithSidecar: true });
    expect(c.dependencies).toEqual([]);
  });

  it('the elector role needs a command', () => {
    expect(problems({ ...base, roles: { elector: true } })).toEqual(['elector.command: required when roles.elector is true']);
    expect(parseConfig({ ...base, roles: { elector: true }, elector: { command: ['celery', 'beat'] } }).elector.command).toEqual(['celery', 'beat']);
  });

  it('refuses a stop deadline that could outlast the session (two beats possible)', () => {
    const p = problems({ ...base, roles: { elector: true }, zookeeper: { ...base.zookeeper, sessionTimeoutMs: 6_000 }, elector: { command: ['x'], stopTimeoutMs: 3_000 } });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^elector\.stopTimeoutMs: .*6000 ms.*below the session timeout \(6000 ms\)/);
  });

  it('dependencies: redis/postgres/mysql URLs, unique names, not a built-in check name; advisory unless said', () => {
    const c = parseConfig({
      ...base,
      dependencies: [
        { name: 'cache_redis', url: 'redis://:pw@cache:6379/1', mode: 'required' },
        { name: 'warehouse', url: 'postgresql://u:p@wh:5432/dw' },
      ],
    });
    expect(c.dependencies.map((d) => d.mode)).toEqual(['required', 'advisory']);
    expect(problems({ ...base, dependencies: [{ name: 'superset', url: 'redis://x:1' }] })).toEqual(['dependencies.0.name: is a built-in check name']);
    expect(problems({ ...base, dependencies: [{ name: 'w', url: 'http://x' }] })[0]).toMatch(/^dependencies\.0\.url: must be a redis:\/\//);
    expect(problems({ ...base, dependencies: [{ name: 'a', url: 'redis://x:1' }, { name: 'a', url: 'redis://y:1' }] })).toEqual(['dependencies: names must be unique']);
  });
});
