import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { isAllowedUpstream, parseAllowList, partitionAllowed, ruleProblem } from '../../src/routing/allowed-upstreams.ts';

describe('proxy.allowedUpstreams', () => {
  const allow = parseAllowList(['10.0.0.0/8', '192.168.1.7', 'fd00::/8', 'superset.internal', '*.superset.svc.cluster.local']);

  it.each([
    ['http://10.1.2.3:8088', true],
    ['http://11.1.2.3:8088', false],
    ['http://192.168.1.7:8088', true],
    ['http://192.168.1.8:8088', false],
    ['http://[fd00::1]:8088', true],
    ['http://[fe80::1]:8088', false],
    ['http://superset.internal:8088', true],
    ['http://SUPERSET.INTERNAL.:8088', true],
    ['http://evil.superset.internal:8088', false],
    ['http://pod-1.superset.svc.cluster.local:8088', true],
    ['http://a.b.superset.svc.cluster.local:8088', true],
    ['http://superset.svc.cluster.local:8088', false],
    ['http://evilsuperset.svc.cluster.local:8088', false],
    ['http://superset.svc.cluster.local.evil.com:8088', false],
    ['http://localhost:8088', false],
    ['http://127.0.0.1:8088', false],
    ['not a url', false],
  ])('%s -> %s', (url, ok) => {
    expect(isAllowedUpstream(allow, url)).toBe(ok);
  });

  it('partitions replicas; without a list everything is allowed', () => {
    const rs = [{ id: 'a', url: 'http://10.0.0.1:1' }, { id: 'b', url: 'http://8.8.8.8:1' }];
    expect(partitionAllowed(allow, rs)).toEqual({ allowed: [rs[0]], refused: [rs[1]] });
    expect(partitionAllowed(undefined, rs)).toEqual({ allowed: rs, refused: [] });
  });

  it('validates rules in the config, naming the bad entry; accepts a comma-separated env value', () => {
    expect(ruleProblem('10.0.0.0/33')).toMatch(/not a valid CIDR/);
    expect(ruleProblem('http://x')).toMatch(/not a valid CIDR/);
    expect(ruleProblem('super set')).toMatch(/not a CIDR, an IP address or a host pattern/);
    expect(ruleProblem('*.*.example.com')).toBeDefined();
    const base = { zookeeper: { connect: '127.0.0.1:2181' }, replica: { id: 'r1', url: 'http://127.0.0.1:8088' } };
    expect(() => parseConfig({ ...base, proxy: { allowedUpstreams: ['10.0.0.0/8', 'bad/rule'] } })).toThrow(/proxy.allowedUpstreams.1: "bad\/rule"/);
    expect(parseConfig({ ...base, proxy: { allowedUpstreams: '10.0.0.0/8, *.svc' } }).proxy.allowedUpstreams).toEqual(['10.0.0.0/8', '*.svc']);
  });
});
