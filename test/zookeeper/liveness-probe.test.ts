import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../../src/errors.ts';
import { LivenessProbe, type ProbeResult } from '../../src/zookeeper/liveness-probe.ts';

describe('LivenessProbe', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reports answers, and calls onMiss when a probe misses its deadline', async () => {
    vi.useFakeTimers();
    const probe = new LivenessProbe({ intervalMs: 100, timeoutMs: 50 });
    const results: ProbeResult[] = [];
    let misses = 0;
    let answer = true;
    probe.start(
      () => (answer ? Promise.resolve() : new Promise<void>(() => undefined)),
      (r) => results.push(r),
      () => misses++,
    );
    await vi.advanceTimersByTimeAsync(100);
    expect(results).toEqual([{ ok: true, ms: 0 }]);
    answer = false;
    await vi.advanceTimersByTimeAsync(150);
    expect(misses).toBe(1);
    expect(results[1]).toMatchObject({ ok: false, error: { code: ErrorCode.ZK_PROBE_TIMEOUT } });
    probe.stop();
    await vi.advanceTimersByTimeAsync(1000);
    expect(misses).toBe(1);
  });

  it('ignores other failures (the client reports connection loss itself) and never overlaps probes', async () => {
    vi.useFakeTimers();
    const probe = new LivenessProbe({ intervalMs: 10, timeoutMs: 1000 });
    let started = 0;
    let misses = 0;
    probe.start(
      () => {
        started++;
        return started === 1 ? Promise.reject(new Error('connection loss')) : new Promise<void>((r) => setTimeout(r, 35));
      },
      () => undefined,
      () => misses++,
    );
    await vi.advanceTimersByTimeAsync(100);
    expect(misses).toBe(0);
    expect(started).toBeLessThanOrEqual(4); // each 35 ms probe blocks the next ticks
    probe.stop();
  });
});
