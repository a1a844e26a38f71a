import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { loadConfig } from '../../src/config.ts';

const dir = join(import.meta.dirname, '..', '..', 'deploy', 'kubernetes', 'base');
const docs = (file: string) => parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, unknown> });

// No cluster here to apply them to: these pin what can drift silently between the code and the manifests.
describe('Kubernetes manifests', () => {
  it('the sidecar config in the ConfigMap validates, with the env the pod sets', () => {
    const c = loadConfig(join(dir, 'superset-ha-config.yaml'), {
      SHA_REPLICA__ID: 'superset-7d9f-abcde',
      SHA_REPLICA__URL: 'http://10.1.2.3:8088',
      SHA_METADATADB__URL: 'postgresql://superset:x@db:5432/superset',
      SHA_ZOOKEEPER__AUTH__SECRET: 'from-the-secret-superset-ha-zookeeper',
    });
    expect(c.replica.url).toBe('http://10.1.2.3:8088');
    // Secure by default: authenticated, and only pod-network upstreams.
    expect(c.zookeeper.auth?.user).toBe('superset-ha');
    expect(c.proxy.allowedUpstreams).toContain('10.0.0.0/8');
    const deploy = docs('superset.yaml').find((d) => d.kind === 'Deployment')!;
    expect(JSON.stringify(deploy)).toContain('"name":"SHA_ZOOKEEPER__AUTH__SECRET","valueFrom":{"secretKeyRef":{"name":"superset-ha-zookeeper","key":"secret"}}');
    expect(c.proxy.upstreamKeepAliveMs).toBeLessThan(2000); // gunicorn --keep-alive 2 in superset.yaml
  });

  it('wires probes, ports and grace period to the sidecar config', () => {
    const cfg = parse(readFileSync(join(dir, 'superset-ha-config.yaml'), 'utf8')) as { proxy: { port: number }; admin: { port: number }; shutdown: { drainDelayMs: number; drainTimeoutMs: number } };
    const deploy = docs('superset.yaml').find((d) => d.kind === 'Deployment')!;
    const pod = (deploy.spec.template as { spec: { terminationGracePeriodSeconds: number; containers: { name: string; args: string[]; ports: { name: string; containerPort: number }[]; readinessProbe: { httpGet: { path: string } } }[] } }).spec;
    const sidecar = pod.containers.find((c) => c.name === 'superset-ha')!;
    expect(sidecar.ports.find((p) => p.name === 'http')!.containerPort).toBe(cfg.proxy.port);
    expect(sidecar.ports.find((p) => p.name === 'admin')!.containerPort).toBe(cfg.admin.port);
    expect(sidecar.readinessProbe.httpGet.path).toBe('/readyz');
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(cfg.shutdown.drainDelayMs + cfg.shutdown.drainTimeoutMs);
    const superset = pod.containers.find((c) => c.name === 'superset')!;
    expect(superset.args.join(' ')).toContain('--keep-alive 2');
  });

  it('bundles a 3-node ensemble whose servers match the sidecar connect string', () => {
    const sts = docs('../zookeeper/zookeeper.yaml').find((d) => d.kind === 'StatefulSet')!;
    expect(sts.spec.replicas).toBe(3);
    const cfg = parse(readFileSync(join(dir, 'superset-ha-config.yaml'), 'utf8')) as { zookeeper: { connect: string } };
    expect(cfg.zookeeper.connect.split(',')).toEqual(['zk-0.zk-hs:2181', 'zk-1.zk-hs:2181', 'zk-2.zk-hs:2181']);
  });
});
