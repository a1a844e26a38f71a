import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { FakeSuperset } from '../support/fake-superset.ts';
import { Watcher, testApp, testRoot } from '../support/harness.ts';
import { metricValue } from '../support/proxy-harness.ts';
import { PG_URL, pg } from '../support/realparts.ts';

const HEALTH = { intervalMs: 300, timeoutMs: 250, rise: 2, fall: 2 };

/**
 * superset_ha_registered once it equals `want`, or its value when `withinMs` ran out. The watcher hears of
 * the znode on its own session, the registrar's create or delete reply comes on another, in either order;
 * the gauge follows the reply.
 */
async function registeredWithin(app: App, want: number, withinMs: number): Promise<number> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const v = await metricValue(app.metrics, 'superset_ha_registered');
    if (v === want || Date.now() >= deadline) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('registration follows health (real ZooKeeper + PostgreSQL)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  async function setup(withDb: boolean): Promise<{ app: App; fake: FakeSuperset; watcher: Watcher; lines: Record<string, unknown>[] }> {
    const root = testRoot();
    const fake = new FakeSuperset();
    await fake.start();
    cleanups.push(() => fake.close());
    const watcher = new Watcher(root).start();
    cleanups.push(() => watcher.close());
    const { app, lines } = testApp({ root, id: 'r1', supersetUrl: fake.url, ...(withDb ? { metadataDbUrl: PG_URL } : {}), health: HEALTH });
    cleanups.push(() => app.close());
    await app.start();
    return { app, fake, watcher, lines };
  }

  it('registers when healthy, and the znode is gone within one interval after `fall` failures', async () => {
    const { app, fake, watcher, lines } = await setup(false);
    await watcher.until((ids) => ids.includes('r1'));
    expect(await registeredWithin(app, 1, HEALTH.intervalMs)).toBe(1);

    let failures = 0;
    let fallAt = 0;
    app.monitor!.on('result', (r) => {
      if (!r.ok && ++failures === HEALTH.fall) fallAt = Date.now();
    });
    fake.mode = 'error500';
    const goneAt = await watcher.until((ids) => !ids.includes('r1'));
    expect(fallAt).toBeGreaterThan(0);
    expect(goneAt - fallAt).toBeLessThan(HEALTH.intervalMs);
    expect(await registeredWithin(app, 0, HEALTH.intervalMs)).toBe(0);
    expect(await metricValue(app.metrics, 'superset_ha_health_check_failures_total', { check: 'superset', code: 'SHA_HEALTH_HTTP_STATUS' })).toBeGreaterThanOrEqual(2);
    expect(lines.some((l) => l.code === 'SHA_HEALTH_HTTP_STATUS')).toBe(true);

    // Hung and refused Superset deregister the same way; recovery needs `rise` passes.
    fake.mode = 'ok';
    await watcher.until((ids) => ids.includes('r1'));
    fake.mode = 'hang';
    await watcher.until((ids) => !ids.includes('r1'));
    expect(await metricValue(app.metrics, 'superset_ha_health_check_failures_total', { check: 'superset', code: 'SHA_HEALTH_TIMEOUT' })).toBeGreaterThanOrEqual(2);
  });

  it('writes only on state change: a steady healthy replica is created once', async () => {
    const { app, watcher } = await setup(false);
    await watcher.until((ids) => ids.includes('r1'));
    const stat1 = await watcher.session.exists(app.registration!.path);
    await new Promise((r) => setTimeout(r, 5 * HEALTH.intervalMs));
    const stat2 = await watcher.session.exists(app.registration!.path);
    expect(stat2).toEqual(stat1);
    expect(watcher.history.filter((h) => !h.stale && h.ids.includes('r1'))).toHaveLength(1);
  });

  it('stopping the metadata DB deregisters; starting it again re-registers after `rise` passes', async () => {
    const { app, watcher } = await setup(true);
    await watcher.until((ids) => ids.includes('r1'));
    // Consecutive metadata-DB passes, and their count when the replica registered again. Counted from before
    // the stop: a check may already pass while pg.sh is still reporting that the server is up.
    let streak = 0;
    let streakAtRegister = -1;
    app.monitor!.on('result', (r) => {
      if (r.check === 'metadata_db') streak = r.ok ? streak + 1 : 0;
    });
    app.registration!.on('change', ({ registered }) => {
      if (registered) streakAtRegister = streak;
    });
    try {
      await pg('stop');
      await watcher.until((ids) => !ids.includes('r1'), 20_000);
      expect(await metricValue(app.metrics, 'superset_ha_health_status', { check: 'metadata_db' })).toBe(0);
      expect(await metricValue(app.metrics, 'superset_ha_health_status', { check: 'superset' })).toBe(1);
    } finally {
      await pg('start');
    }
    await watcher.until((ids) => ids.includes('r1'), 20_000);
    expect(streakAtRegister).toBeGreaterThanOrEqual(HEALTH.rise);
    expect(await registeredWithin(app, 1, HEALTH.intervalMs)).toBe(1);
  });

  it('drain removes the znode and keeps it removed while healthy', async () => {
    const { app, watcher } = await setup(false);
    await watcher.until((ids) => ids.includes('r1'));
    await app.drain();
    await watcher.until((ids) => !ids.includes('r1'));
    await new Promise((r) => setTimeout(r, 3 * HEALTH.intervalMs));
    expect(watcher.ids()).not.toContain('r1');
  });
});
