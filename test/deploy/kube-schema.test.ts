import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { deployTools, repoRoot, run, type DeployTools } from '../support/deploy-tools.ts';

// Offline and fast: the rendered manifests against the Kubernetes 1.37 API's OpenAPI schemas, strictly
// (unknown fields are errors), with PyPI kubernetes-validate. test/integration/kubernetes.test.ts also
// applies them to a real API server; this catches the same class of mistake in seconds.
let tools: DeployTools;
const tmp = mkdtempSync(join(tmpdir(), 'sha-kubeval-'));

function validate(name: string, yaml: string): { status: number; out: string } {
  const file = join(tmp, name);
  writeFileSync(file, yaml);
  return run(tools.KUBEVAL, ['--strict', '-k', '1.37.0', file]);
}

function kustomize(dir: string): string {
  const r = run('kubectl', ['kustomize', join(repoRoot, dir)]);
  if (r.status !== 0) throw new Error(r.out);
  return r.out;
}

beforeAll(() => {
  tools = deployTools();
}, 600_000);

describe('manifests against the Kubernetes 1.37 schemas (kubernetes-validate --strict)', () => {
  it('the kustomize base renders and every object validates', () => {
    const r = validate('base.yaml', kustomize('deploy/kubernetes/base'));
    expect(r.status, r.out).toBe(0);
    expect(r.out.match(/passed for resource/g)?.length).toBe(11);
    expect(r.out).not.toMatch(/ERROR|WARN/);
  }, 60_000);

  it('the Helm extras validate, and the Helm sidecar container validates inside a pod', () => {
    const r = validate('helm-extras.yaml', readFileSync(join(repoRoot, 'deploy/helm/superset-ha-service.yaml'), 'utf8'));
    expect(r.status, r.out).toBe(0);
    const values = parse(readFileSync(join(repoRoot, 'deploy/helm/values-superset-ha.yaml'), 'utf8')) as { supersetNode: { extraContainers: unknown[] }; extraVolumes: unknown[] };
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { containers: values.supersetNode.extraContainers, volumes: values.extraVolumes } };
    const p = validate('helm-pod.yaml', JSON.stringify(pod));
    expect(p.status, p.out).toBe(0);
  }, 60_000);

  it('rejects a misspelt field and a wrong type (the check can fail)', () => {
    const base = kustomize('deploy/kubernetes/base');
    // one run (each costs seconds): the typo in the StatefulSet, the wrong type in a Deployment
    const bad = validate('bad.yaml', base.replace('serviceName: zk-hs', 'serviceNmae: zk-hs').replace('containerPort: 8080', 'containerPort: "8080"'));
    expect(bad.status).not.toBe(0);
    expect(bad.out).toMatch(/statefulset\/zk.*serviceNmae/);
    expect(bad.out).toMatch(/deployment\/superset.*is not of type 'integer'/);
  }, 60_000);
});
