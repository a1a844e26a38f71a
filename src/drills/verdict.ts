import type { Thresholds } from './config.ts';
import type { Figures } from './figures.ts';

export type Status = 'pass' | 'fail' | 'unknown';

export interface Check {
  readonly name: string;
  readonly value: number | boolean | null;
  readonly limit: number | boolean | null;
  readonly status: Status;
}

export interface Verdict {
  readonly status: Status;
  readonly checks: readonly Check[];
  /** Why the verdict is not a plain pass (failed checks, unknowns, a fault that did not land). */
  readonly reasons: readonly string[];
}

/** Jepsen's merge: any fail fails; otherwise any unknown makes the whole unknown. */
export function merge(statuses: readonly Status[]): Status {
  if (statuses.includes('fail')) return 'fail';
  if (statuses.includes('unknown')) return 'unknown';
  return 'pass';
}

/** after / before, rounded; null when either is missing (before floored at 1 ms). */
function ratio(after: number | undefined, before: number | undefined): number | null {
  if (after === undefined || before === undefined) return null;
  return Math.round((after / Math.max(1, before)) * 100) / 100;
}

function atMost(name: string, value: number | null, limit: number | null): Check | undefined {
  if (limit === null) return undefined; // not judged
  if (value === null) return { name, value, limit, status: 'unknown' };
  return { name, value, limit, status: value <= limit ? 'pass' : 'fail' };
}

/**
 * Judges one scenario's figures. A figure that could not be measured makes its check unknown, never a pass;
 * a fault that was not shown to have landed makes the whole scenario unknown (nothing was tested).
 */
export function judge(f: Figures, th: Thresholds, fault: { landed: boolean; error?: string }): Verdict {
  const checks = [
    atMost('client errors', f.judgedErrors, th.maxClientErrors),
    atMost('client errors %', f.clientErrorPct, th.maxClientErrorPct),
    atMost('replayed unsafe requests', f.replayedUnsafe, th.maxReplayedUnsafe),
    atMost('time to detect (s)', f.detectS, th.maxDetectS),
    atMost('time to isolate (s)', f.isolateS, th.maxIsolateS),
    atMost('time to recover (s)', f.recoverS, th.maxRecoverS),
    atMost('p99 during (ms)', f.latency.during?.p99 ?? null, th.maxP99DuringMs),
    atMost('p99 after / p99 before', ratio(f.latency.after?.p99, f.latency.before?.p99), th.maxP99AfterRatio),
  ].filter((c): c is Check => c !== undefined);
  // Errors before the fault mean the baseline was not steady: what happened after cannot be put down to the fault.
  checks.push({ name: 'no errors before the fault', value: f.steadyErrors, limit: 0, status: f.steadyErrors === 0 ? 'pass' : 'unknown' });
  if (th.metricsMustTell) {
    checks.push({ name: '/metrics told the story', value: f.metricsTold, limit: true, status: f.metricsTold === null ? 'unknown' : f.metricsTold ? 'pass' : 'fail' });
  }
  const reasons = checks.filter((c) => c.status !== 'pass').map((c) => `${c.name}: ${c.value === null ? 'not measured' : String(c.value)} (limit ${String(c.limit)})`);
  if (!fault.landed) {
    return { status: 'unknown', checks, reasons: [`the fault did not land: ${fault.error ?? 'not verified'}`, ...reasons] };
  }
  return { status: merge(checks.map((c) => c.status)), checks, reasons };
}
