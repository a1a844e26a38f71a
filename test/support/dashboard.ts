import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './deploy-tools.ts';

export const dashboardPath = join(repoRoot, 'deploy/grafana/superset-ha.json');

export interface PanelQuery {
  panel: string;
  refId: string;
  /** The PromQL with Grafana's interval variables replaced, as Prometheus would get it. */
  expr: string;
}

interface DashboardJson {
  panels: { title: string; targets?: { refId: string; expr: string }[] }[];
}

/** Every panel query of the dashboard, with $__rate_interval / $__interval / $__range replaced by `window`. */
export function dashboardQueries(window = '1m'): PanelQuery[] {
  const d = JSON.parse(readFileSync(dashboardPath, 'utf8')) as DashboardJson;
  return d.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr.replaceAll(/\$__(rate_interval|interval|range)/g, window) })),
  );
}

/** The superset_ha_* metric names an expression reads. */
export function metricNames(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\bsuperset_ha_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, '')))];
}
