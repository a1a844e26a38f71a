import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DrillConfig } from './config.ts';
import { renderReport, type ReportMeta } from './report.ts';
import type { ScenarioResult } from './runner.ts';
import { merge } from './verdict.ts';

/**
 * drill.json: the journal (as Chaos Toolkit's, but with every request). Config, target (no secrets), and per
 * scenario the timeline, figures, verdict, the ledger as rows, and the sidecar samples.
 */
export function journal(meta: ReportMeta, config: DrillConfig, target: unknown, results: readonly ScenarioResult[]): unknown {
  return {
    version: 1,
    ...meta,
    status: merge(results.map((r) => r.verdict.status)),
    config,
    target,
    scenarios: results.map((r) => ({
      ...r,
      ledgerColumns: ['seq', 'start', 'end', 'sidecar', 'route', 'method', 'status', 'code', 'outcome', 'phase'],
      ledger: r.ledger.map((e) => [e.seq, e.start, e.end, e.sidecar, e.route, e.method, e.status, e.code, e.outcome, e.phase]),
    })),
  };
}

export async function writeOutputs(dir: string, meta: ReportMeta, config: DrillConfig, target: unknown, results: readonly ScenarioResult[]): Promise<{ json: string; html: string }> {
  await mkdir(dir, { recursive: true });
  const json = path.join(dir, 'drill.json');
  const html = path.join(dir, 'report.html');
  await writeFile(json, `${JSON.stringify(journal(meta, config, target, results))}\n`);
  await writeFile(html, await renderReport(meta, results));
  return { json, html };
}
