import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { loadConfig } from '../../src/config.ts';
import { writeConfig } from '../support/sidecar-process.ts';

const deploy = join(import.meta.dirname, '..', '..', 'deploy');
const base = join(deploy, 'kubernetes', 'base');
type Doc = { kind: string; metadata: { name: string }; spec: Record<string, unknown>; data?: Record<string, string> };
const docs = (file: string) => parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as Doc);

interface Container {
  name: string;
  args?: string[];
  ports: { name: string; containerPort: number }[];
  readinessProbe: { httpGet: { path: string; port: string } };
  lifecycle?: { preStop?: { sleep?: { seconds: number } } };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  terminationGracePeriodSeconds: number;
  containers: Container[];
  volumes: { name: string; configMap?: { name: string } }[];
}

const podEnv = {
  SHA_REPLICA__ID: 'superset-7d9f-abcde',
  SHA_REPLICA__URL: 'http://10.1.2.3:8088',
  SHA_METADATADB__URL: 'postgresql://superset:x@db:5432/superset',
  SHA_ZOOKEEPER__AUTH__SECRET: 'from-the-secret-superset-ha-zookeeper',
};
const webDeployment = docs(join(base, 'superset.yaml')).find((d) => d.kind === 'Deployment')!;
const webPod = (webDeployment.spec.template as { spec: PodSpec }).spec;
const sidecar = webPod.containers.find((c) => c.name === 'superset-ha')!;
type SidecarFile = { proxy: { port: number }; admin: { port: number }; shutdown: { drainDelayMs: number; drainTimeoutMs: number }; zookeeper: { connect: string } };
const cfg = parse(readFileSync(join(base, 'superset-ha-config.yaml'), 'utf8')) as SidecarFile;

// Checks that need no cluster: what can drift silently between the code, the config and the manifests.
// test/integration/kubernetes.test.ts applies them to a real API server.
describe('Kubernetes manifests', () => {
  it('the sidecar config in the ConfigMap validates, with the env the pod sets', () => {
    const c = loadConfig(join(base, 'superset-ha-config.yaml'), podEnv);
    expect(c.replica.url).toBe('http://10.1.2.3:8088');
    // Secure by default: authenticated, and only pod-network upstreams.
    expect(c.zookeeper.auth?.user).toBe('superset-ha');
    expect(c.proxy.allowedUpstreams).toContain('10.0.0.0/8');
    expect(JSON.stringify(webDeployment)).toContain('"name":"SHA_ZOOKEEPER__AUTH__SECRET","valueFrom":{"secretKeyRef":{"name":"superset-ha-zookeeper","key":"secret"}}');
    expect(c.proxy.upstreamKeepAliveMs).toBeLessThan(2000); // gunicorn --keep-alive 2 in superset.yaml
  });

  it('wires probes, ports, Service and shutdown timing to the sidecar config', () => {
    expect(sidecar.ports.find((p) => p.name === 'proxy')!.containerPort).toBe(cfg.proxy.port);
    expect(sidecar.ports.find((p) => p.name === 'admin')!.containerPort).toBe(cfg.admin.port);
    expect(sidecar.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    const svc = docs(join(base, 'superset.yaml')).find((d) => d.kind === 'Service' && d.metadata.name === 'superset')!;
    expect((svc.spec.ports as { targetPort: string }[])[0]!.targetPort).toBe('proxy');
    // Superset keeps serving until the sidecar has drained, and SIGKILL comes after both.
    const superset = webPod.containers.find((c) => c.name === 'superset')!;
    const preStopMs = superset.lifecycle!.preStop!.sleep!.seconds * 1000;
    expect(preStopMs).toBeGreaterThanOrEqual(cfg.shutdown.drainDelayMs + cfg.shutdown.drainTimeoutMs);
    expect(webPod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(preStopMs);
    expect(superset.args!.join(' ')).toContain('--keep-alive 2');
  });

  it('bundles a 3-node ensemble whose servers match the sidecar connect string', () => {
    const sts = docs(join(deploy, 'kubernetes', 'zookeeper', 'zookeeper.yaml')).find((d) => d.kind === 'StatefulSet')!;
    expect(sts.spec.replicas).toBe(3);
    expect(cfg.zookeeper.connect.split(',')).toEqual(['zk-0.zk-hs:2181', 'zk-1.zk-hs:2181', 'zk-2.zk-hs:2181']);
  });

  it('the Celery beat elector config validates and runs celery beat', () => {
    const raw = parse(readFileSync(join(base, 'superset-ha-beat-config.yaml'), 'utf8')) as Record<string, unknown>;
    expect(raw.roles).toEqual({ registrar: false, router: false, elector: true });
    const c = loadConfig(writeConfig(raw), { SHA_REPLICA__ID: 'superset-beat-5f6d-xyz12', SHA_ZOOKEEPER__AUTH__SECRET: podEnv.SHA_ZOOKEEPER__AUTH__SECRET });
    expect(c.roles.elector).toBe(true);
    expect(c.elector.command?.slice(0, 3)).toEqual(['celery', '--app=superset.tasks.celery_app:app', 'beat']);
  });
});

describe('Helm values for the official chart', () => {
  const values = parse(readFileSync(join(deploy, 'helm', 'values-superset-ha.yaml'), 'utf8')) as {
    ingress: { enabled: boolean };
    extraVolumes: { name: string; configMap: { name: string } }[];
    supersetNode: { extraContainers: Container[] };
  };
  const extras = docs(join(deploy, 'helm', 'superset-ha-service.yaml'));

  it('carries exactly the kustomize sidecar container', () => {
    expect(values.supersetNode.extraContainers).toEqual([sidecar]);
    // and the volume it mounts, as the chart's top-level extraVolumes (which do reach the web pod)
    expect(values.extraVolumes).toEqual(webPod.volumes.filter((v) => sidecar.volumeMounts!.some((m) => m.name === v.name)));
  });

  it('sends traffic to the sidecar: chart Ingress off, own Service targets the sidecar port', () => {
    expect(values.ingress.enabled).toBe(false);
    const svc = extras.find((d) => d.kind === 'Service' && d.metadata.name === 'superset-ha')!;
    expect((svc.spec.ports as { targetPort: string }[])[0]!.targetPort).toBe('proxy');
    expect(sidecar.ports.map((p) => p.name)).not.toContain('http'); // the chart's Superset port is `http`
    const ing = extras.find((d) => d.kind === 'Ingress')!;
    expect(JSON.stringify(ing.spec)).toContain('"name":"superset-ha"');
  });

  it('its sidecar config validates and drains within the chart\'s default 30 s grace period', () => {
    const text = extras.find((d) => d.kind === 'ConfigMap')!.data!['config.yaml']!;
    const c = loadConfig(writeConfig(text, 'yaml'), podEnv);
    expect(c.shutdown.drainDelayMs + c.shutdown.drainTimeoutMs).toBeLessThan(30_000);
  });
});
