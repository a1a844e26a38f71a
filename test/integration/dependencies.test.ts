import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { App } from '../../src/app.ts';
import { parseConfig } from '../../src/config.ts';
import { ErrorCode } from '../../src/errors.ts';
import { createDependencyCheck } from '../../src/health/dependency.ts';
import { Metrics } from '../../src/metrics.ts';
import { FakeSuperset } from '../support/fake-superset.ts';
import { Watcher, memoryLogger, testRoot, zkTestOptions } from '../support/harness.ts';
import { PG_URL, REDIS_URL, redis } from '../support/realparts.ts';
import { sample, scrape } from '../support/scrape.ts';

// pg.sh makes an `analytics` role and database beside Superset's: the "warehouse" a chart reads from.
const WAREHOUSE_URL = PG_URL.replace('superset:superset@', 'analytics:analytics@').replace(/\/superset$/, '/analytics');
const ok = (p: Promise<void>) => p.then(() => true, () => false);

describe('Redis dependency check against real Redis', () => {
  const check = createDependencyCheck({ name: 'cache_redis', url: REDIS_URL, mode: 'required' }, 800);
  afterAll(async () => {
    await check.close();
    await redis('start');
  });

  it('PINGs over a kept connection', async () => {
    await check.run(AbortSignal.timeout(800));
    await check.run(AbortSignal.timeout(800));
    expect(check.advisory).toBe(false);
  });

  it('reports a stopped Redis as unreachable, and passes again once it is back', async () => {
    await redis('stop');
    try {
      await expect(check.run(AbortSignal.timeout(800))).rejects.toMatchObject({ code: ErrorCode.HEALTH_REDIS_UNREACHABLE });
      await expect(check.run(AbortSignal.timeout(800))).rejects.toMatchObject({ code: ErrorCode.HEALTH_REDIS_UNREACHABLE });
    } finally {
      await redis('start');
    }
    await check.run(AbortSignal.timeout(800));
  });

  it('times out on a hung Redis (SIGSTOP) within the check deadline', async () => {
    await check.run(AbortSignal.timeout(800));
    await redis('pause');
    try {
      const started = Date.now();
      await expect(check.run(AbortSignal.timeout(800))).rejects.toMatchObject({ code: ErrorCode.HEALTH_TIMEOUT });
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      await redis('resume');
    }
    await expect.poll(() => ok(check.run(AbortSignal.timeout(800))), { timeout: 5_000 }).toBe(true);
  });
});

describe('data source dependency check against real PostgreSQL', () => {
  it('runs SELECT 1 on the analytics database, and names it in its errors', async () => {
    const good = createDependencyCheck({ name: 'warehouse', url: WAREHOUSE_URL, mode: 'advisory' }, 800);
    await good.run(AbortSignal.timeout(800));
    await good.close();
    const bad = createDependencyCheck({ name: 'warehouse', url: WAREHOUSE_URL.replace(':analytics@', ':wrong@'), mode: 'advisory' }, 800);
    const err = await bad.run(AbortSignal.timeout(800)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.HEALTH_DB_AUTH, details: { check: 'warehouse' } });
    await bad.close();
  });
});

describe('required vs advisory dependencies in a running sidecar (real ZooKeeper, Redis, PostgreSQL)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  it('an advisory warehouse that fails is reported but keeps the replica registered; a required Redis that fails deregisters it', async () => {
    const superset = new FakeSuperset();
    await superset.start();
    cleanups.push(() => superset.close());
    const root = testRoot();
    const w = new Watcher(root).start();
    cleanups.push(() => w.close());
    const { log } = memoryLogger();
    const config = parseConfig({
      zookeeper: { ...zkTestOptions, root },
      replica: { id: 'dep', url: superset.url },
      health: { intervalMs: 300, timeoutMs: 250, rise: 2, fall: 2 },
      roles: { registrar: true, router: false },
      admin: { port: 0 },
      shutdown: { drainTimeoutMs: 3000, drainDelayMs: 0 },
      dependencies: [
        { name: 'cache_redis', url: REDIS_URL, mode: 'required' },
        // A warehouse nobody can log in to: down, as far as charts are concerned.
        { name: 'warehouse', url: WAREHOUSE_URL.replace(':analytics@', ':wrong@'), mode: 'advisory' },
      ],
    });
    const app = new App(config, log, new Metrics({ processMetrics: false }));
    cleanups.push(() => app.close());
    await app.start();
    await w.until((ids) => ids.includes('dep'), 10_000);

    const admin = `http://${app.admin.address.host}:${app.admin.address.port}`;
    const m = await scrape(admin);
    expect(sample(m, 'superset_ha_health_status', { check: 'warehouse' })).toBe(0);
    expect(sample(m, 'superset_ha_health_status', { check: 'superset' })).toBe(1);
    expect(sample(m, 'superset_ha_health_status', { check: 'cache_redis' })).toBe(1);
    expect(sample(m, 'superset_ha_health_check_failures_total', { check: 'warehouse', code: ErrorCode.HEALTH_DB_AUTH })).toBeGreaterThan(0);
    const view = (await (await fetch(`${admin}/replicas`)).json()) as { self: { registered: boolean; checks: { check: string; ok: boolean; mode: string; code: string | null }[] } };
    expect(view.self.registered).toBe(true);
    expect(view.self.checks).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ check: 'warehouse', ok: false, mode: 'advisory', code: ErrorCode.HEALTH_DB_AUTH }),
        expect.objectContaining({ check: 'cache_redis', ok: true, mode: 'required' }),
        expect.objectContaining({ check: 'superset', ok: true, mode: 'required' }),
      ]),
    );

    await redis('stop');
    cleanups.push(() => redis('start').then(() => undefined));
    await w.until((ids) => !ids.includes('dep'), 10_000);
    expect(app.monitor?.state).toMatchObject({ kind: 'unhealthy', failing: ['cache_redis'] });
    await redis('start');
    await w.until((ids) => ids.includes('dep'), 10_000);
  });
});
