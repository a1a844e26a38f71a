import { describe, expect, it } from 'vitest';
import { isSidecarError } from '../../src/errors.ts';
import { loadDrillConfig, parseDrillConfig, thresholdsFor } from '../../src/drills/config.ts';
import { computeFigures } from '../../src/drills/figures.ts';
import { SCENARIOS } from '../../src/drills/scenarios.ts';
import { judge, merge } from '../../src/drills/verdict.ts';
import { entries, executions, marks, samples, victim } from './fixtures.ts';

const config = loadDrillConfig();

function figures(opts: { errorsAt?: number[]; extra?: Record<number, number>; flapAt?: number; counted?: boolean; recoveredAt?: number | undefined } = {}) {
  const es = entries(60, opts.errorsAt);
  return computeFigures({
    scenario: SCENARIOS['replica-crash'],
    victim,
    entries: es,
    samples: samples({ flapAt: opts.flapAt }),
    marks,
    replicaCount: 2,
    recoveredAt: 'recoveredAt' in opts ? opts.recoveredAt : 12_000,
    executions: opts.counted === false ? null : executions(es, opts.extra),
    shed: 0,
  });
}

describe('drill figures', () => {
  it('measures detection, isolation, recovery and latency by phase from the samples and the ledger', () => {
    const f = figures();
    expect(f.requests).toBe(60);
    expect(f.clientErrors).toBe(0);
    expect(f.detectS).toBe(1); // sidecar-1's health went to 0 at 5 s
    expect(f.isolateS).toBe(2); // both tables without superset-1 from 6 s
    expect(f.recoverS).toBe(2);
    expect(f.flaps).toBe(0);
    expect(f.sentToFailedAfterIsolation).toBe(0);
    expect(f.latency.before).toEqual({ n: 16, p50: 40, p99: 40, max: 40 });
    expect(f.latency.during?.p99).toBe(400);
    expect(f.unsafeSent).toBe(12);
    expect(f.replayedUnsafe).toBe(0);
    expect(f.metricsTold).toBe(true);
  });

  it('counts replayed executes from the recorded rows, and runs the client saw fail', () => {
    const f = figures({ errorsAt: [9], extra: { 4: 1, 14: 2 } });
    expect(f.replayedUnsafe).toBe(3);
    expect(f.unsafeExecuted).toBe(15);
    expect(f.unsafeRanThoughFailed).toBe(1);
    expect(f.clientErrors).toBe(1);
    expect(f.errorCodes).toEqual({ SHA_PROXY_UPSTREAM_FAILED: 1 });
  });

  it('restarts the isolation clock when a sidecar routes to the failed replica again (a flap)', () => {
    const f = figures({ flapAt: 8000 });
    expect(f.flaps).toBe(1);
    expect(f.isolateS).toBe(4.5);
  });
});

describe('drill verdict', () => {
  const th = thresholdsFor(config, 'replica-crash');

  it('passes when every figure is within its threshold', () => {
    const v = judge(figures(), th, { landed: true });
    expect(v.status).toBe('pass');
    expect(v.reasons).toEqual([]);
    expect(v.checks.map((c) => c.name)).toContain('replayed unsafe requests');
  });

  it('fails on a client error or a replayed execute, and says which', () => {
    const v = judge(figures({ errorsAt: [20] }), th, { landed: true }); // at 5 s: during the fault
    expect(v.status).toBe('fail');
    expect(v.reasons).toEqual(['client errors: 1 (limit 0)', 'client errors %: 1.67 (limit 0)']);
    expect(judge(figures({ extra: { 4: 1 } }), th, { landed: true }).checks.find((c) => c.name === 'replayed unsafe requests')?.status).toBe('fail');
  });

  it('is unknown, never pass, when a judged figure could not be measured or the fault did not land', () => {
    const noCount = judge(figures({ counted: false }), th, { landed: true });
    expect(noCount.status).toBe('unknown');
    expect(noCount.reasons).toContain('replayed unsafe requests: not measured (limit 0)');
    expect(judge(figures({ recoveredAt: undefined }), th, { landed: true }).status).toBe('unknown');
    const notLanded = judge(figures(), th, { landed: false, error: 'port still open' });
    expect(notLanded.status).toBe('unknown');
    expect(notLanded.reasons[0]).toBe('the fault did not land: port still open');
    // ...but a failure still fails: an unknown never hides one.
    expect(judge(figures({ errorsAt: [3], counted: false }), th, { landed: true }).status).toBe('fail');
  });

  it('is unknown when the baseline had errors before the fault (they cannot be put down to it)', () => {
    const f = figures({ errorsAt: [3] }); // at 0.75 s, before the fault at 4 s
    expect(f.steadyErrors).toBe(1);
    const th0 = { ...th, maxClientErrors: null, maxClientErrorPct: null };
    const v = judge(f, th0, { landed: true });
    expect(v.status).toBe('unknown');
    expect(v.reasons).toEqual(['no errors before the fault: 1 (limit 0)']);
  });

  it('judges latency after recovery against the baseline before the fault', () => {
    const es = entries(60).map((e) => (e.phase === 'after' ? { ...e, end: e.start + 400 } : e));
    const f = computeFigures({ scenario: SCENARIOS['replica-crash'], victim, entries: es, samples: samples(), marks, replicaCount: 2, recoveredAt: 12_000, executions: executions(es), shed: 0 });
    expect(f.latency.after?.p99).toBe(400);
    const c = judge(f, th, { landed: true }).checks.find((x) => x.name === 'p99 after / p99 before');
    expect(c).toEqual({ name: 'p99 after / p99 before', value: 10, limit: 3, status: 'fail' });
    expect(judge(figures(), th, { landed: true }).checks.find((x) => x.name === 'p99 after / p99 before')?.status).toBe('pass');
  });

  it('merges like Jepsen: fail > unknown > pass', () => {
    expect(merge(['pass', 'unknown', 'fail'])).toBe('fail');
    expect(merge(['pass', 'unknown'])).toBe('unknown');
    expect(merge(['pass', 'pass'])).toBe('pass');
    expect(merge([])).toBe('pass');
  });

  it('applies per-scenario thresholds over the defaults; null means not judged', () => {
    expect(thresholdsFor(config, 'metadata-db-down').maxClientErrors).toBeNull();
    expect(thresholdsFor(config, 'replica-crash').maxClientErrors).toBe(0);
    const v = judge(figures({ errorsAt: [3, 5] }), thresholdsFor(config, 'metadata-db-down'), { landed: true });
    expect(v.checks.some((c) => c.name === 'client errors')).toBe(false);
  });

  it('rejects a bad drill config with its path and a stable code', () => {
    let err: unknown;
    try {
      parseDrillConfig('run: {rate: -1}\nthresholds: {}\n', 'x.yaml');
    } catch (e) {
      err = e;
    }
    expect(isSidecarError(err, 'SHA_DRILL_CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/x\.yaml: run\.rate/);
    expect(() => parseDrillConfig(': :', 'y.yaml')).toThrow(/y\.yaml/);
  });
});

describe('unsafe requests in flight as the fault lands', () => {
  it('are counted as client errors but not judged: the replica may have run them', () => {
    const es = entries(60).map((e) =>
      e.seq === 14 // a SQL Lab execute started at 3.5 s, answered after the fault at 4 s
        ? { ...e, end: 4200, status: 502, code: 'SHA_PROXY_NOT_REPLAYED', outcome: 'indeterminate' as const }
        : e.seq === 19 // one sent at 4.75 s, after the fault had landed
          ? { ...e, status: 502, code: 'SHA_PROXY_NOT_REPLAYED', outcome: 'indeterminate' as const }
          : e,
    );
    const f = computeFigures({ scenario: SCENARIOS['replica-crash'], victim, entries: es, samples: samples(), marks, replicaCount: 2, recoveredAt: 12_000, executions: executions(es), shed: 0, landedAt: 4300 });
    expect(f.clientErrors).toBe(2);
    expect(f.inFlightAtFault).toBe(1);
    expect(f.judgedErrors).toBe(1);
    expect(judge(f, thresholdsFor(config, 'replica-crash'), { landed: true }).reasons).toContain('client errors: 1 (limit 0)');
  });
});
