import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { dashboardPath, dashboardQueries } from '../support/dashboard.ts';
import { deployTools, repoRoot, run, type DeployTools } from '../support/deploy-tools.ts';

// Grafana itself is not installable here: the dashboard is type-checked against Grafana's published schema
// types (@grafana/schema) with tsc, and every panel query is parsed by promtool.
const json = readFileSync(dashboardPath, 'utf8');

function typecheck(dashboardJson: string): { status: number; out: string } {
  // Inside the repository so that `@grafana/schema` resolves from node_modules.
  const dir = join(repoRoot, '.run', 'dashboard-typecheck');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `dashboard-${process.pid}-${Date.now()}.ts`);
  writeFileSync(file, `import type { Dashboard } from '@grafana/schema';\n\nexport const dashboard: Dashboard = ${dashboardJson};\n`);
  const tsc = join(repoRoot, 'node_modules', '.bin', 'tsc');
  try {
    return run(tsc, ['--ignoreConfig', '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2024', '--skipLibCheck', '--types', 'node', file]);
  } finally {
    rmSync(file, { force: true });
  }
}

let tools: DeployTools;
beforeAll(() => {
  tools = deployTools();
}, 600_000);

describe('Grafana dashboard', () => {
  it('type-checks against @grafana/schema\'s Dashboard', () => {
    const r = typecheck(json);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  }, 60_000);

  it('the type check catches a wrong type and a misspelt field', () => {
    const d = JSON.parse(json) as { schemaVersion: unknown; panels: Record<string, unknown>[] };
    d.schemaVersion = '41';
    const p = d.panels[0]!;
    p.targts = p.targets;
    delete p.targets;
    const r = typecheck(JSON.stringify(d, null, 2));
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/schemaVersion|not assignable to type 'number'/);
  }, 60_000);

  it('every panel query parses with promtool', () => {
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(15);
    const rules = { groups: [{ name: 'dashboard', rules: queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: q.expr })) }] };
    const dir = mkdtempSync(join(tmpdir(), 'sha-dash-'));
    writeFileSync(join(dir, 'queries.yaml'), JSON.stringify(rules));
    const r = run(tools.PROMTOOL, ['check', 'rules', join(dir, 'queries.yaml')]);
    expect(r.out).toContain(`SUCCESS: ${queries.length} rules found`);
    expect(r.status).toBe(0);
  });

  it('shows what operators watch', () => {
    const titles = (JSON.parse(json) as { panels: { title: string }[] }).panels.map((p) => p.title);
    const exprs = dashboardQueries().map((q) => q.expr).join('\n');
    expect(titles.length).toBeGreaterThanOrEqual(10);
    for (const m of [
      'superset_ha_replicas_live',
      'superset_ha_request_duration_seconds_count',
      'superset_ha_request_duration_seconds_bucket',
      'superset_ha_upstream_requests_total',
      'superset_ha_retries_total',
      'superset_ha_rescued_requests_total',
      'superset_ha_ejections_total',
      'superset_ha_failovers_total',
      'superset_ha_zk_session_state',
      'superset_ha_health_check_duration_seconds_bucket',
      'superset_ha_is_leader',
    ]) {
      expect(exprs).toContain(m);
    }
  });
});
