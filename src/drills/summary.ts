import type { Lat } from './figures.ts';
import type { ScenarioResult } from './runner.ts';

// The plain-text forms of a drill's results: the terminal table and the figures rows the report reuses.

const n = (v: number | null | undefined, unit = '') => (v === null || v === undefined ? '—' : `${v}${unit}`);
export const lat = (l: Lat) => (l === null ? '—' : `${l.p50}/${l.p99}/${l.max}`);

export const SUMMARY_COLUMNS = ['scenario', 'verdict', 'requests', 'errors', 'replayed', 'detect', 'isolate', 'recover', 'p50/p99/max before', 'during', 'after', 'metrics'] as const;

export function summaryRow(r: ScenarioResult): string[] {
  const f = r.figures;
  return [
    r.name,
    r.verdict.status.toUpperCase(),
    String(f.counted === f.requests ? f.requests : `${f.counted}/${f.requests}`),
    `${f.judgedErrors} (${f.clientErrorPct}%)${f.inFlightAtFault ? ` +${f.inFlightAtFault}` : ''}`,
    `${n(f.replayedUnsafe)}/${f.unsafeSent}`,
    n(f.detectS, 's'),
    n(f.isolateS, 's'),
    n(f.recoverS, 's'),
    lat(f.latency.before),
    lat(f.latency.during),
    lat(f.latency.after),
    f.metricsTold === null ? '?' : f.metricsTold ? 'yes' : 'NO',
  ];
}

export function table(header: readonly string[], rows: readonly string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function summaryTable(results: readonly ScenarioResult[]): string {
  const body = table(SUMMARY_COLUMNS, results.map(summaryRow));
  const lines = results.map((r) => `${r.verdict.status === 'pass' ? 'PASS' : r.verdict.status === 'fail' ? 'FAIL' : 'UNKNOWN'}  ${r.name}${r.verdict.reasons.length ? `: ${r.verdict.reasons.join('; ')}` : ''}`);
  return `${body}\n(errors: failed + indeterminate requests counted by the scenario, +N: unsafe requests in flight as the fault landed, not judged; replayed: extra executions / SQL Lab executes sent; latencies in ms)\n\n${lines.join('\n')}`;
}
