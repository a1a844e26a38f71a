import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, SidecarError } from '../../src/errors.ts';
import type { HealthCheck } from '../../src/health/check.ts';
import { HealthMonitor, type HealthState } from '../../src/health/monitor.ts';

class ScriptedCheck implements HealthCheck {
  ok = true;
  closed = 0;
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
  run(): Promise<void> {
    return this.ok ? Promise.resolve() : Promise.reject(new SidecarError(ErrorCode.HEALTH_HTTP_STATUS, 'scripted failure'));
  }
  close(): Promise<void> {
    this.closed++;
    return Promise.resolve();
  }
}

function monitorWith(checks: HealthCheck[], rise = 2, fall = 3) {
  const m = new HealthMonitor(checks, { intervalMs: 1000, timeoutMs: 500, rise, fall });
  const changes: HealthState['kind'][] = [];
  m.on('change', ({ state }) => changes.push(state.kind));
  return { m, changes };
}

describe('HealthMonitor hysteresis', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('becomes healthy only after `rise` passing rounds', async () => {
    const { m, changes } = monitorWith([new ScriptedCheck('a')]);
    await m.runRound();
    expect(m.state.kind).toBe('starting');
    await m.runRound();
    expect(m.state.kind).toBe('healthy');
    expect(changes).toEqual(['healthy']);
  });

  it('needs `fall` consecutive failing rounds; a pass in between resets the count', async () => {
    const a = new ScriptedCheck('a');
    const b = new ScriptedCheck('b');
    const { m, changes } = monitorWith([a, b]);
    await m.runRound();
    await m.runRound();
    b.ok = false;
    await m.runRound();
    await m.runRound();
    b.ok = true;
    await m.runRound(); // resets the failure streak
    b.ok = false;
    await m.runRound();
    await m.runRound();
    expect(m.state.kind).toBe('healthy');
    await m.runRound();
    expect(m.state).toMatchObject({ kind: 'unhealthy', failing: ['b'], codes: [ErrorCode.HEALTH_HTTP_STATUS] });
    expect(changes).toEqual(['healthy', 'unhealthy']);
  });

  it('reports every check result, failing ones with their error', async () => {
    const a = new ScriptedCheck('a');
    a.ok = false;
    const { m } = monitorWith([a]);
    const results: { check: string; ok: boolean; code?: string }[] = [];
    m.on('result', (r) => results.push({ check: r.check, ok: r.ok, ...(r.error ? { code: r.error.code } : {}) }));
    await m.runRound();
    expect(results).toEqual([{ check: 'a', ok: false, code: ErrorCode.HEALTH_HTTP_STATUS }]);
  });

  it('runs rounds on its interval once started and closes its checks', async () => {
    vi.useFakeTimers();
    const a = new ScriptedCheck('a');
    const { m } = monitorWith([a], 2, 1);
    let rounds = 0;
    m.on('result', () => rounds++);
    m.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(rounds).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(rounds).toBe(2);
    expect(m.state.kind).toBe('healthy');
    await vi.advanceTimersByTimeAsync(3000);
    expect(rounds).toBe(5);
    await m.close();
    await m.close();
    await vi.advanceTimersByTimeAsync(5000);
    expect(rounds).toBe(5);
    expect(a.closed).toBe(2);
  });

  it('confirms a failing streak at fastIntervalMs (HAProxy fastinter): a hung replica is down in about fall × timeout', async () => {
    vi.useFakeTimers();
    // A check against a SIGSTOPped replica: nothing answers, it fails when its 1.5 s timeout runs out. (The
    // timeout is played by a fake-timer setTimeout here; AbortSignal.timeout does not follow fake timers.)
    let hung = false;
    const check: HealthCheck = {
      name: 'superset',
      run: () =>
        hung
          ? new Promise((_, reject) => setTimeout(() => reject(new SidecarError(ErrorCode.HEALTH_TIMEOUT, 'timed out')), 1500))
          : Promise.resolve(),
      close: () => Promise.resolve(),
    };
    const m = new HealthMonitor([check], { intervalMs: 2000, fastIntervalMs: 250, timeoutMs: 1500, rise: 2, fall: 3 });
    m.start();
    await vi.advanceTimersByTimeAsync(2500); // rounds at 0 and 250 (rising), then every 2000
    expect(m.state.kind).toBe('healthy');
    hung = true;
    const hungAt = Date.now();
    let downAt = 0;
    m.on('change', ({ state }) => {
      if (state.kind === 'unhealthy') downAt = Date.now();
    });
    await vi.advanceTimersByTimeAsync(10_000);
    const closed = m.close(); // waits for the round in flight, which ends on its (fake) timeout
    await vi.advanceTimersByTimeAsync(2000);
    await closed;
    // Worst case: the next round starts up to one interval later, then fall rounds of one timeout each, back
    // to back. Without the fast interval it would be interval + (fall - 1) × interval + timeout = 7.5 s.
    expect(downAt - hungAt).toBeLessThanOrEqual(2000 + 3 * 1500);
    expect(downAt - hungAt).toBeGreaterThanOrEqual(3 * 1500);
  });
});
