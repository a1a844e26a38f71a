import { describe, expect, it } from 'vitest';
import { classify, latency, Ledger, perSecond, phaseAt, type LedgerEntry } from '../../src/drills/ledger.ts';

const entry = (over: Partial<LedgerEntry>): LedgerEntry => ({
  seq: 0,
  start: 0,
  end: 10,
  sidecar: 's0',
  route: 'dashboard',
  method: 'GET',
  status: 200,
  code: null,
  outcome: 'ok',
  phase: 'steady',
  ...over,
});

describe('drill ledger', () => {
  it('classifies what a client saw as ok, failed or indeterminate', () => {
    expect(classify('dashboard', { kind: 'response', status: 200, code: null }).outcome).toBe('ok');
    expect(classify('dashboard', { kind: 'response', status: 302, code: null }).outcome).toBe('ok');
    expect(classify('chart-data', { kind: 'response', status: 503, code: 'SHA_PROXY_NO_REPLICA' }).outcome).toBe('failed');
    // The proxy says the execute may have run and was not replayed: indeterminate, as Jepsen's :info.
    expect(classify('sqllab', { kind: 'response', status: 502, code: 'SHA_PROXY_NOT_REPLAYED' })).toEqual({ status: 502, code: 'SHA_PROXY_NOT_REPLAYED', outcome: 'indeterminate' });
    expect(classify('sqllab', { kind: 'response', status: 504, code: 'SHA_PROXY_UPSTREAM_TIMEOUT' }).outcome).toBe('indeterminate');
    expect(classify('chart-data', { kind: 'response', status: 504, code: 'SHA_PROXY_UPSTREAM_TIMEOUT' }).outcome).toBe('failed');
    // Never left the client: it cannot have run anywhere.
    expect(classify('sqllab', { kind: 'error', code: 'ECONNREFUSED', sent: false })).toEqual({ status: 0, code: 'ECONNREFUSED', outcome: 'failed' });
    expect(classify('sqllab', { kind: 'error', code: 'CLIENT_TIMEOUT', sent: true }).outcome).toBe('indeterminate');
    expect(classify('dashboard', { kind: 'error', code: 'CLIENT_TIMEOUT', sent: true }).outcome).toBe('failed');
    expect(classify('write', { kind: 'response', status: 502, code: null }).outcome).toBe('indeterminate');
    expect(classify('read', { kind: 'response', status: 500, code: null }).outcome).toBe('failed');
  });

  it('places a request in the phase its start falls in', () => {
    const marks = { fault: 1000, heal: 3000, recovered: 5000 };
    expect(phaseAt(999, marks)).toBe('steady');
    expect(phaseAt(1000, marks)).toBe('fault');
    expect(phaseAt(2999, marks)).toBe('fault');
    expect(phaseAt(3000, marks)).toBe('recovery');
    expect(phaseAt(5000, marks)).toBe('after');
    expect(phaseAt(4000, { fault: 1000 })).toBe('fault');
    expect(phaseAt(4000, {})).toBe('steady');
  });

  it('counts outcomes, with a filter', () => {
    const l = new Ledger();
    expect(l.nextSeq()).toBe(0);
    expect(l.nextSeq()).toBe(1);
    l.add(entry({ outcome: 'ok' }));
    l.add(entry({ outcome: 'failed', sidecar: 's1' }));
    l.add(entry({ outcome: 'indeterminate' }));
    expect(l.counts()).toEqual({ ok: 1, failed: 1, indeterminate: 1, total: 3 });
    expect(l.counts((e) => e.sidecar === 's0')).toEqual({ ok: 1, failed: 0, indeterminate: 1, total: 2 });
  });

  it('computes nearest-rank latency quantiles', () => {
    expect(latency([])).toBeNull();
    const es = Array.from({ length: 100 }, (_, i) => entry({ start: 0, end: i + 1 }));
    expect(latency(es)).toEqual({ n: 100, p50: 50, p99: 99, max: 100 });
    expect(latency([entry({ start: 5, end: 65 })])).toEqual({ n: 1, p50: 60, p99: 60, max: 60 });
  });

  it('buckets requests and errors per second, with empty seconds as zeros', () => {
    const es = [entry({ start: 100 }), entry({ start: 900, outcome: 'failed' }), entry({ start: 2500, outcome: 'indeterminate' })];
    expect(perSecond(es)).toEqual([
      { t: 0, requests: 2, errors: 1 },
      { t: 1, requests: 0, errors: 0 },
      { t: 2, requests: 1, errors: 1 },
    ]);
    expect(perSecond([])).toEqual([]);
  });
});
