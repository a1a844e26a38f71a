import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, run } from '../support/deploy-tools.ts';

// deploy/kubernetes applied to a real API server (v1.37, built from the Go module proxy by
// scripts/kube-build.sh) with its controller manager and scheduler, and kwok playing the kubelet of three
// fake nodes (scripts/kube.sh). The prometheus-operator CRDs come from its Go types through controller-gen,
// so the ServiceMonitor and PrometheusRule are validated by the server too.
const KUBE_SH = join(repoRoot, 'scripts', 'kube.sh');
const overlay = join(repoRoot, 'deploy/kubernetes/overlays/monitoring');
const NS = 'superset';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let kubeconfig: string;
// Its own discovery cache, wiped with the cluster: a cache from an earlier cluster on the same port would
// still list the CRDs' kinds.
const kubectl = (args: string[], input?: string, timeoutMs = 120_000) =>
  run('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(dirname(kubeconfig), 'kubectl-cache'), ...args], { input, timeoutMs });

function ok(args: string[], input?: string): string {
  const r = kubectl(args, input);
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed:\n${r.out}`);
  return r.out;
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) {
      // what the cluster looked like, to tell a slow controller from a wrong expectation
      const state = kubectl(['-n', NS, 'get', 'pdb,pods,pvc', '-o', 'wide']).out;
      const events = kubectl(['-n', NS, 'get', 'events', '--sort-by=.lastTimestamp']).out.split('\n').slice(-15).join('\n');
      throw new Error(`${what} not within ${timeoutMs} ms\n${state}\n${events}`);
    }
    await sleep(250);
  }
}

interface Pod {
  metadata: { name: string };
  spec: { nodeName?: string };
  status: { phase: string };
}

beforeAll(() => {
  // A no-op when the control plane is cached (cold: the Go builds, several minutes of CPU).
  const t0 = Date.now();
  const built = run(join(repoRoot, 'scripts', 'kube-build.sh'), [], { timeoutMs: 90 * 60_000 });
  if (built.status !== 0) throw new Error(`scripts/kube-build.sh failed:\n${built.out}`);
  const t1 = Date.now();
  const started = run(KUBE_SH, ['start'], { timeoutMs: 180_000 });
  if (started.status !== 0) throw new Error(`scripts/kube.sh start failed:\n${started.out}`);
  kubeconfig = started.out.trim().split('\n').pop()!;
  console.log(`[measure] kube-build.sh ${t1 - t0} ms, kube.sh start ${Date.now() - t1} ms`);
}, 95 * 60_000);

afterAll(() => {
  if (process.env.SHA_KEEP_PARTS !== '1') run(KUBE_SH, ['wipe'], { timeoutMs: 60_000 });
});

describe('deploy/kubernetes on a real API server with kwok nodes', () => {
  it('the server rejects the monitoring objects until the prometheus-operator CRDs exist', async () => {
    kubectl(['create', 'namespace', NS]);
    const before = kubectl(['apply', '--dry-run=server', '-k', overlay]);
    if (before.out.includes('created (server dry run)') && !before.out.includes('no matches for kind')) {
      // CRDs left from an earlier run with SHA_KEEP_PARTS=1
      expect(before.status).toBe(0);
    } else {
      expect(before.status).not.toBe(0);
      expect(before.out).toMatch(/no matches for kind "(PrometheusRule|ServiceMonitor)"/);
    }
    const crds = run(KUBE_SH, ['crds']).out.trim();
    ok(['apply', '--server-side', '--force-conflicts', '-f', crds]);
    ok(['wait', '--for=condition=Established', '--timeout=60s', 'crd/prometheusrules.monitoring.coreos.com', 'crd/servicemonitors.monitoring.coreos.com']);
    // Established, and then served: the API server installs the new handlers a moment later.
    await until('the CRDs served', () => (kubectl(['get', 'prometheusrules,servicemonitors', '-A']).status === 0 ? true : undefined));
  });

  it('accepts every object in a server-side dry run, and rejects a misspelt field and a bad rule', () => {
    const dry = kubectl(['apply', '--dry-run=server', '-k', overlay]);
    expect(dry.out).not.toMatch(/error|invalid/i);
    expect(dry.status).toBe(0);
    for (const kind of ['statefulset.apps/zk', 'deployment.apps/superset', 'deployment.apps/superset-beat', 'networkpolicy.networking.k8s.io/superset-ha-admin', 'prometheusrule.monitoring.coreos.com/superset-ha', 'servicemonitor.monitoring.coreos.com/superset-ha', 'poddisruptionbudget.policy/zk']) {
      expect(dry.out).toContain(kind);
    }
    const rendered = ok(['kustomize', overlay]);
    const dir = mkdtempSync(join(tmpdir(), 'sha-kube-'));
    const typo = rendered.replace('serviceName: zk-hs', 'serviceNmae: zk-hs');
    writeFileSync(join(dir, 'typo.yaml'), typo);
    const r1 = kubectl(['apply', '--dry-run=server', '-f', join(dir, 'typo.yaml')]);
    expect(r1.status).not.toBe(0);
    expect(r1.out).toMatch(/unknown field "spec.serviceNmae"/);
    writeFileSync(join(dir, 'rule.yaml'), rendered.replace('for: 5m', 'for: five minutes'));
    const r2 = kubectl(['apply', '--dry-run=server', '-f', join(dir, 'rule.yaml')]);
    expect(r2.status).not.toBe(0);
    expect(r2.out).toMatch(/PrometheusRule.*invalid|spec\.groups\[0\]\.rules\[\d+\]\.for/i);
  });

  it('rolls out on three fake nodes: the ensemble spread one per node, the Superset pods ready', () => {
    const nodes = [0, 1, 2].map((i) => ({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: `kwok-node-${i}`, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { 'kubernetes.io/hostname': `kwok-node-${i}`, type: 'kwok' } },
      status: { allocatable: { cpu: '8', memory: '32Gi', pods: '110' }, capacity: { cpu: '8', memory: '32Gi', pods: '110' } },
    }));
    // The ensemble's volume claims need volumes; no provisioner runs here, so they are made by hand (a
    // fourth for the scale-up below, so that only anti-affinity can keep that server off the nodes).
    const pvs = [0, 1, 2, 3].map((i) => ({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: `zk-pv-${i}` },
      spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: `/tmp/zk-pv-${i}` } },
    }));
    ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...nodes, ...pvs] }));
    ok(['-n', NS, 'create', 'secret', 'generic', 'superset-secrets', '--from-literal=SECRET_KEY=x', '--from-literal=SQLALCHEMY_DATABASE_URI=postgresql://superset:x@db:5432/superset']);
    ok(['-n', NS, 'create', 'secret', 'generic', 'superset-ha-drain', '--from-literal=token=0123456789abcdef0123']);
    ok(['apply', '-k', overlay]);
    const t0 = Date.now();
    ok(['-n', NS, 'rollout', 'status', 'statefulset/zk', '--timeout=180s']);
    console.log(`[measure] zk StatefulSet rolled out on kwok nodes in ${Date.now() - t0} ms`);
    ok(['-n', NS, 'rollout', 'status', 'deployment/superset', '--timeout=120s']);
    ok(['-n', NS, 'rollout', 'status', 'deployment/superset-beat', '--timeout=120s']);
    const pods = (JSON.parse(ok(['-n', NS, 'get', 'pods', '-l', 'app=zk', '-o', 'json'])) as { items: Pod[] }).items;
    expect(pods.map((p) => p.status.phase)).toEqual(['Running', 'Running', 'Running']);
    expect(new Set(pods.map((p) => p.spec.nodeName)).size).toBe(3); // hard anti-affinity
    expect(ok(['-n', NS, 'get', 'prometheusrule,servicemonitor', '-o', 'name']).trim().split('\n').sort()).toEqual([
      'prometheusrule.monitoring.coreos.com/superset-ha',
      'servicemonitor.monitoring.coreos.com/superset-ha',
    ]);
    // The Service's endpoints are the sidecars' proxy ports.
    const slices = JSON.parse(ok(['-n', NS, 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=superset', '-o', 'json'])) as { items: { ports: { port: number }[]; endpoints?: unknown[] }[] };
    expect(slices.items.flatMap((s) => s.ports.map((p) => p.port))).toContain(8080);
  }, 600_000);

  it('a fourth ensemble server finds no node (anti-affinity), and the PDB blocks a second eviction', async () => {
    // Cordon all nodes, as a drain does first, so an evicted server cannot come back before the next eviction.
    for (const i of [0, 1, 2]) ok(['cordon', `kwok-node-${i}`]);
    // The disruption controller publishes the budget on its own schedule: room for a slow one on a loaded machine.
    await until(
      'PDB allows one disruption',
      () => {
        const pdb = JSON.parse(ok(['-n', NS, 'get', 'pdb', 'zk', '-o', 'json'])) as { status?: { disruptionsAllowed?: number } };
        return pdb.status?.disruptionsAllowed === 1 ? true : undefined;
      },
      120_000,
    );
    const evict = (pod: string) =>
      kubectl(['create', '--raw', `/api/v1/namespaces/${NS}/pods/${pod}/eviction`, '-f', '-'], JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod, namespace: NS } }));
    const first = evict('zk-0');
    expect(first.status, first.out).toBe(0);
    await until('PDB sees the disruption', () => {
      const pdb = JSON.parse(ok(['-n', NS, 'get', 'pdb', 'zk', '-o', 'json'])) as { status?: { disruptionsAllowed?: number } };
      return pdb.status?.disruptionsAllowed === 0 ? true : undefined;
    });
    const second = evict('zk-1');
    expect(second.status).not.toBe(0);
    expect(second.out).toMatch(/disruption budget|TooManyRequests|429/i);
    // zk-1 still runs; zk-0's replacement waits for a schedulable node.
    const zk1 = JSON.parse(ok(['-n', NS, 'get', 'pod', 'zk-1', '-o', 'json'])) as Pod & { metadata: { deletionTimestamp?: string } };
    expect(zk1.metadata.deletionTimestamp).toBeUndefined();
    for (const i of [0, 1, 2]) ok(['uncordon', `kwok-node-${i}`]);
    ok(['-n', NS, 'rollout', 'status', 'statefulset/zk', '--timeout=120s']);
    ok(['-n', NS, 'scale', 'statefulset/zk', '--replicas=4']);
    // The scheduler can try zk-3 before the volume controller has bound its new claim ("pod has unbound
    // immediate PersistentVolumeClaims", likelier on a busy machine): Unschedulable too, but not the verdict
    // this test is about. Wait for the one given once the claim is bound; a timeout shows the last message.
    let seen = '';
    const why = await until(
      'zk-3 unschedulable because of anti-affinity',
      () => {
        const p = JSON.parse(ok(['-n', NS, 'get', 'pod', 'zk-3', '-o', 'json', '--ignore-not-found']) || '{}') as { status?: { conditions?: { type: string; reason?: string; message?: string }[] } };
        const c = p.status?.conditions?.find((x) => x.type === 'PodScheduled' && x.reason === 'Unschedulable');
        if (c?.message !== undefined) seen = c.message;
        return c?.message !== undefined && /anti-affinity/.test(c.message) ? c.message : undefined;
      },
      120_000,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\nlast scheduler message: ${seen}`);
    });
    expect(why).toMatch(/didn't match pod anti-affinity rules|anti-affinity/);
    ok(['-n', NS, 'scale', 'statefulset/zk', '--replicas=3']);
  }, 300_000);
});
