import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { deployTools, repoRoot, run, type DeployTools } from '../support/deploy-tools.ts';

interface Rule {
  alert: string;
  expr: string;
  annotations: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}

const rulesPath = join(repoRoot, 'deploy/prometheus/superset-ha-rules.yaml');
const plain = parse(readFileSync(rulesPath, 'utf8')) as RuleFile;
const crPath = join(repoRoot, 'deploy/kubernetes/overlays/monitoring/prometheusrule.yaml');
const cr = parseAllDocuments(readFileSync(crPath, 'utf8'))[0]!.toJS() as { kind: string; spec: RuleFile };
const alerts = plain.groups.flatMap((g) => g.rules);

let tools: DeployTools;
beforeAll(() => {
  tools = deployTools();
}, 600_000);

describe('alerting rules', () => {
  it('pass promtool check rules', () => {
    const r = run(tools.PROMTOOL, ['check', 'rules', rulesPath]);
    expect(r.out).toContain(`SUCCESS: ${alerts.length} rules found`);
    expect(r.status).toBe(0);
  });

  it('fire on synthetic failures and stay silent on healthy series (promtool test rules)', () => {
    const r = run(tools.PROMTOOL, ['test', 'rules', join(repoRoot, 'deploy/prometheus/superset-ha-rules.test.yaml')]);
    expect(r.out).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it('every alert has a unit test that fires it', () => {
    const tests = readFileSync(join(repoRoot, 'deploy/prometheus/superset-ha-rules.test.yaml'), 'utf8');
    for (const a of alerts) expect(tests, a.alert).toMatch(new RegExp(`alertname: ${a.alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`));
  });

  it('promtool rejects a broken rule (the check can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sha-rules-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: sum by (a) rate(x[5m])\n');
    const r = run(tools.PROMTOOL, ['check', 'rules', bad]);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/parse error/);
  });

  it('the PrometheusRule carries exactly the plain file\'s rules, and promtool accepts its spec', () => {
    expect(cr.kind).toBe('PrometheusRule');
    expect(cr.spec).toEqual(plain);
    const dir = mkdtempSync(join(tmpdir(), 'sha-rules-'));
    writeFileSync(join(dir, 'cr-spec.yaml'), JSON.stringify(cr.spec));
    const r = run(tools.PROMTOOL, ['check', 'rules', join(dir, 'cr-spec.yaml')]);
    expect(r.status, r.out).toBe(0);
  });

  it('covers what operators asked to be alerted on', () => {
    const exprs = alerts.map((a) => a.expr).join('\n');
    for (const metric of [
      'superset_ha_replicas_live',
      'superset_ha_membership_stale',
      'superset_ha_registered',
      'superset_ha_retry_budget_exhausted_total',
      'superset_ha_failovers_total',
      'superset_ha_ejections_total',
      'superset_ha_zk_session_expirations_total',
      'superset_ha_request_duration_seconds_count{status_class="5xx"}',
      'superset_ha_is_leader',
    ]) {
      expect(exprs).toContain(metric);
    }
  });

  it('every alert has a runbook section in docs/operations.md, linked from its annotation', () => {
    const ops = readFileSync(join(repoRoot, 'docs/operations.md'), 'utf8');
    for (const a of alerts) {
      expect(ops, `runbook for ${a.alert}`).toContain(`\n### ${a.alert}\n`);
      expect(a.annotations.runbook).toBe(`docs/operations.md#${a.alert.toLowerCase()}`);
      expect(a.annotations.summary, a.alert).toBeTruthy();
    }
  });
});
