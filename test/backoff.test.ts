import { describe, expect, it } from 'vitest';
import { backoffDelay, sleep } from '../src/backoff.ts';
import { ErrorCode } from '../src/errors.ts';

describe('backoffDelay', () => {
  const policy = { baseMs: 100, maxMs: 1000 };

  it('draws uniformly below a ceiling that doubles per attempt and stops at the cap', () => {
    expect(backoffDelay(policy, 0, () => 0.999)).toBe(99);
    expect(backoffDelay(policy, 1, () => 0.999)).toBe(199);
    expect(backoffDelay(policy, 3, () => 0.999)).toBe(799);
    expect(backoffDelay(policy, 4, () => 0.999)).toBe(999);
    expect(backoffDelay(policy, 60, () => 0.999)).toBe(999);
    expect(backoffDelay(policy, 5, () => 0)).toBe(0);
  });

  it('spreads delays over the whole range (full jitter)', () => {
    const draws = Array.from({ length: 2000 }, () => backoffDelay(policy, 10));
    expect(Math.min(...draws)).toBeLessThan(100);
    expect(Math.max(...draws)).toBeGreaterThan(900);
    expect(draws.every((d) => d >= 0 && d < 1000)).toBe(true);
  });
});

describe('sleep', () => {
  it('rejects with SHA_ABORTED when aborted', async () => {
    const ac = new AbortController();
    const p = sleep(10_000, ac.signal);
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: ErrorCode.ABORTED });
  });
});
