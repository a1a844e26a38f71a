import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { perSecond, type LedgerEntry, type PhaseMarks } from './ledger.ts';

// Jepsen-style charts (jepsen checker/perf.clj): every request a point at (start time, latency) on a log
// scale, coloured by outcome, the fault window shaded, phase marks as rules; under it a requests/s and
// errors/s strip. Rendered to SVG in Node by vega's headless View (no browser, no canvas), so the report
// needs no script and no network to show them.

export const OUTCOME_COLOURS = { ok: '#81BFFC', indeterminate: '#FFA400', failed: '#FF1E90' } as const;

const WIDTH = 760;

function marksLayer(marks: PhaseMarks) {
  return [
    {
      data: { values: [{ from: marks.fault / 1000, to: marks.heal / 1000, label: 'fault' }] },
      mark: { type: 'rect', color: '#cccccc', opacity: 0.6 },
      encoding: { x: { field: 'from', type: 'quantitative' }, x2: { field: 'to' } },
    },
    {
      data: {
        values: [
          { t: marks.fault / 1000, label: 'fault' },
          { t: marks.heal / 1000, label: 'heal' },
          { t: marks.recovered / 1000, label: 'recovered' },
        ],
      },
      layer: [
        { mark: { type: 'rule', color: '#555', strokeDash: [4, 3] }, encoding: { x: { field: 't', type: 'quantitative' } } },
        { mark: { type: 'text', align: 'left', dx: 3, dy: -4, fontSize: 10, color: '#333' }, encoding: { x: { field: 't', type: 'quantitative' }, y: { value: 8 }, text: { field: 'label' } } },
      ],
    },
  ];
}

/** The latency scatter of one scenario (vega-lite spec; exported for tests). */
export function latencySpec(entries: readonly LedgerEntry[], marks: PhaseMarks, endMs: number): TopLevelSpec {
  const points = entries.map((e) => ({ t: e.start / 1000, ms: Math.max(1, e.end - e.start), outcome: e.outcome, route: e.route, sidecar: e.sidecar, status: e.status, code: e.code ?? '' }));
  const x = { field: 't', type: 'quantitative', title: 'time since scenario start (s)', scale: { domain: [0, Math.ceil(endMs / 1000)] } } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: WIDTH,
    height: 260,
    layer: [
      ...marksLayer(marks),
      {
        data: { values: points },
        mark: { type: 'point', filled: true, size: 18, opacity: 0.8 },
        encoding: {
          x,
          y: { field: 'ms', type: 'quantitative', title: 'latency (ms, log)', scale: { type: 'log' } },
          color: {
            field: 'outcome',
            type: 'nominal',
            scale: { domain: Object.keys(OUTCOME_COLOURS), range: Object.values(OUTCOME_COLOURS) },
            legend: { orient: 'top', title: null },
          },
          shape: { field: 'route', type: 'nominal', legend: { orient: 'top', title: null } },
        },
      },
    ],
  } as TopLevelSpec;
}

/** Requests/s and errors/s per second. */
export function rateSpec(entries: readonly LedgerEntry[], marks: PhaseMarks, endMs: number): TopLevelSpec {
  const rows = perSecond(entries).flatMap((b) => [
    { t: b.t, n: b.requests, series: 'requests/s' },
    { t: b.t, n: b.errors, series: 'errors/s' },
  ]);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: WIDTH,
    height: 90,
    layer: [
      ...marksLayer(marks),
      {
        data: { values: rows },
        mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.5 },
        encoding: {
          x: { field: 't', type: 'quantitative', title: null, scale: { domain: [0, Math.ceil(endMs / 1000)] } },
          y: { field: 'n', type: 'quantitative', title: 'per second' },
          color: { field: 'series', type: 'nominal', scale: { domain: ['requests/s', 'errors/s'], range: ['#4a7ab5', '#FF1E90'] }, legend: { orient: 'top', title: null } },
        },
      },
    ],
  } as TopLevelSpec;
}

/** vega-lite → vega → SVG string, headless. */
export async function toSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
