import { describe, expect, it } from 'vitest';
import { jsonDiff, mergePatch } from '../../src/cli/json-diff.ts';
import { RetryBudget } from '../../src/routing/retry-budget.ts';
import { RuntimeTuning } from '../../src/roles/runtime-tuning.ts';
import { ErrorCode, isSidecarError } from '../../src/errors.ts';
import { decodeRuntimeConfig, encodeRuntimeConfig } from '../../src/zookeeper/runtime-config-schema.ts';

describe('runtime config document', () => {
  it('validates with a schema version and names every problem with one code', () => {
    expect(decodeRuntimeConfig('')).toEqual({ schemaVersion: 1 });
    const doc = { schemaVersion: 1 as const, replicas: { 'superset-0': { maintenance: true, weight: 50 } }, retry: { maxAttempts: 2 }, hedge: { routes: ['idempotent' as const], delayMs: 200 } };
    expect(decodeRuntimeConfig(encodeRuntimeConfig(doc))).toEqual(doc);
    try {
      decodeRuntimeConfig(JSON.stringify({ schemaVersion: 2, retry: { maxAttempts: 99 }, extra: 1 }));
      expect.unreachable();
    } catch (err) {
      expect(isSidecarError(err, ErrorCode.RUNTIME_CONFIG_INVALID)).toBe(true);
      const problems = (err as { details: { problems: string[] } }).details.problems.join('\n');
      expect(problems).toMatch(/schemaVersion: must be 1/);
      expect(problems).toMatch(/retry.maxAttempts/);
      expect(problems).toMatch(/Unrecognized key: "extra"/);
    }
    expect(() => decodeRuntimeConfig('{')).toThrow(/not JSON/);
    expect(() => decodeRuntimeConfig('x'.repeat(300 * 1024))).toThrow(/larger than/);
  });

  it('merge patches and diffs by path', () => {
    const a = { schemaVersion: 1, replicas: { 'r.1': { weight: 5 } } };
    const b = mergePatch(a, { replicas: { 'r.1': null, r2: { maintenance: true } }, retry: { maxAttempts: 2 } });
    expect(b).toEqual({ schemaVersion: 1, replicas: { r2: { maintenance: true } }, retry: { maxAttempts: 2 } });
    expect(jsonDiff(a, b)).toEqual(['- replicas."r.1".weight: 5', '+ replicas.r2.maintenance: true', '+ retry.maxAttempts: 2']);
    expect(jsonDiff(b, b)).toEqual([]);
  });
});

describe('RuntimeTuning', () => {
  const base = {
    retry: { maxAttempts: 3, budgetRatio: 0.2, budgetMinPerSec: 0 },
    outlier: { consecutiveFailures: 5, baseEjectionMs: 5000, maxEjectionMs: 60000, maxEjectedPercent: 50 },
    hedge: { routes: [], delayMs: 1000 },
  };

  it('overlays maintenance and weights, and hands out options that follow later changes', () => {
    const t = new RuntimeTuning(base);
    const table = t.tableOptions({ pool: { connections: 1, connectTimeoutMs: 1, keepAliveMs: 1 }, outlier: base.outlier, maxEjectedPercent: 50, balance: {} });
    const proxy = t.proxyOptions({ maxAttempts: 3, backoff: { baseMs: 1, maxMs: 1 }, maxReplayBodyBytes: 1, holdResponseBytes: 1, headersTimeoutMs: 1, bodyTimeoutMs: 1, retryAfterS: 1, hedge: base.hedge });
    let now = 0;
    const budget = t.budget(new RetryBudget({ ratio: 0.2, minPerSec: 0, windowMs: 1000 }, () => now));
    for (let i = 0; i < 10; i++) budget.recordRequest();
    expect([budget.tryAcquire(), budget.tryAcquire(), budget.tryAcquire()]).toEqual([true, true, false]);

    const r = (id: string) => ({ id, url: `http://10.0.0.1/${id}`, zone: 'z', weight: 100, version: 'v', startedAt: new Date(0).toISOString() });
    t.apply({ schemaVersion: 1, replicas: { a: { maintenance: true }, b: { weight: 7 } }, retry: { maxAttempts: 1, budgetRatio: 0.5 }, hedge: { routes: ['idempotent'] }, outlier: { consecutiveFailures: 2, maxEjectedPercent: 10 } });
    // In maintenance: drained (no new requests, those in flight finish), not dropped as if it had failed.
    expect(t.overlay([r('a'), r('b'), r('c')]).map((x) => `${x.id}:${x.weight}:${x.state ?? 'serving'}`)).toEqual(['a:100:draining', 'b:7:serving', 'c:100:serving']);
    expect(t.maintenance).toEqual(['a']);
    expect(proxy.maxAttempts).toBe(1);
    expect(proxy.hedge).toEqual({ routes: ['idempotent'], delayMs: 1000 });
    expect(table.outlier.consecutiveFailures).toBe(2);
    expect(table.outlier.baseEjectionMs).toBe(5000);
    expect(table.maxEjectedPercent).toBe(10);
    // 0.5 × 10 requests = 5 retries in the window, 2 of them already spent.
    expect([budget.tryAcquire(), budget.tryAcquire(), budget.tryAcquire(), budget.tryAcquire()]).toEqual([true, true, true, false]);
    now += 5000;
    t.apply({ schemaVersion: 1 });
    expect(proxy.maxAttempts).toBe(3);
    expect(t.overlay([r('a')])).toHaveLength(1);
  });
});
