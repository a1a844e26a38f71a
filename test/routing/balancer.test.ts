import { describe, expect, it } from 'vitest';
import { localIsSlow, pick, rampShare, type Candidate } from '../../src/routing/balancer.ts';

const c = (id: string, outstanding = 0, weight = 100, zone = 'a'): Candidate => ({ id, outstanding, weight, zone });

describe('balancer', () => {
  it('prefers the local replica while it is a candidate', () => {
    expect(pick([c('x', 50), c('local', 99)], { localId: 'local' })?.id).toBe('local');
    expect(pick([c('x'), c('y')], { localId: 'local' })?.id).toMatch(/x|y/);
  });

  it('returns nothing for no candidates, the only one for one', () => {
    expect(pick([])).toBeUndefined();
    expect(pick([c('only', 1000)])?.id).toBe('only');
  });

  it('of the two sampled, takes the one with fewer outstanding per weight', () => {
    const seq = [0.0, 0.99];
    let i = 0;
    const random = () => seq[i++ % seq.length]!;
    expect(pick([c('busy', 10), c('idle', 1)], { random })?.id).toBe('idle');
    i = 0;
    expect(pick([c('heavy', 10, 1000), c('light', 2, 100)], { random })?.id).toBe('heavy');
  });

  it('spreads load by weight over many picks', () => {
    const cands = [c('w1', 0, 100), c('w3', 0, 300), c('w0', 0, 100)];
    const counts = new Map<string, number>();
    const live = cands.map((x) => ({ ...x }));
    for (let n = 0; n < 3000; n++) {
      const chosen = pick(live)!;
      chosen.outstanding++;
      counts.set(chosen.id, (counts.get(chosen.id) ?? 0) + 1);
      // Requests complete at a steady rate, as a server would drain them.
      if (n % 2 === 0) for (const x of live) x.outstanding = Math.max(0, x.outstanding - 1);
    }
    expect(counts.get('w3')!).toBeGreaterThan(counts.get('w1')! * 1.5);
  });

  it('stays in its zone while the zone has candidates', () => {
    const cands = [c('a1', 0, 100, 'a'), c('b1', 0, 100, 'b'), c('b2', 0, 100, 'b')];
    for (let n = 0; n < 50; n++) expect(pick(cands, { zone: 'a' })?.id).toBe('a1');
    expect(pick([c('b1', 0, 100, 'b')], { zone: 'a' })?.id).toBe('b1');
  });

  it('slow start: a replica that (re)joined gets a share ramping from 10 % to its weight over slowStartMs', () => {
    const now = 1_000_000;
    const counts = (since: number) => {
      const live: { -readonly [K in keyof Candidate]: Candidate[K] }[] = [c('old'), { ...c('new'), since }];
      const n = new Map<string, number>();
      for (let k = 0; k < 4000; k++) {
        const chosen = pick(live, { slowStartMs: 10_000 }, now)!;
        chosen.outstanding++;
        n.set(chosen.id, (n.get(chosen.id) ?? 0) + 1);
        // Each request in flight completes with a fixed chance per step: in flight ~ share x holding time.
        for (const x of live) x.outstanding *= 0.95;
      }
      return (n.get('new') ?? 0) / 4000;
    };
    const justJoined = counts(now);
    const halfway = counts(now - 5000);
    const done = counts(now - 10_000);
    expect(justJoined).toBeLessThan(0.25);
    expect(halfway).toBeGreaterThan(justJoined);
    expect(done).toBeGreaterThan(0.4);
    expect(rampShare({ ...c('x'), since: now }, 10_000, now)).toBe(0.1);
    expect(rampShare({ ...c('x'), since: 0 }, 10_000, now)).toBe(1); // part of the set from the start
  });

  it('slow start: a local replica that just came back is preferred only with its ramp share', () => {
    const now = 1_000_000;
    let local = 0;
    for (let k = 0; k < 2000; k++) if (pick([{ ...c('local'), since: now - 2000 }, c('x')], { localId: 'local', slowStartMs: 10_000 }, now)!.id === 'local') local++;
    // 20 % preferred, plus what P2C gives it of the rest (with a fifth of the weight).
    expect(local / 2000).toBeGreaterThan(0.15);
    expect(local / 2000).toBeLessThan(0.5);
  });

  it('the local preference yields while the local replica is markedly slower than the others', () => {
    const now = 1_000_000;
    const lat = (fastMs: number, slowMs = fastMs, at = now) => ({ fastMs, slowMs, at });
    const slowLocal = { ...c('local'), latency: lat(900) };
    const fastOther = { ...c('x'), latency: lat(50) };
    expect(localIsSlow(slowLocal, [slowLocal, fastOther], 3, now)).toBe(true);
    let local = 0;
    for (let k = 0; k < 200; k++) if (pick([slowLocal, fastOther], { localId: 'local', localYieldFactor: 3 }, now)!.id === 'local') local++;
    expect(local).toBeLessThan(200); // P2C between the two from now on
    // Not markedly slower, or the other's figure is old, or yielding is off: the local replica keeps it all.
    expect(localIsSlow({ ...c('local'), latency: lat(120) }, [fastOther], 3, now)).toBe(false);
    expect(localIsSlow(slowLocal, [{ ...c('x'), latency: lat(50, 50, now - 120_000) }], 3, now)).toBe(false);
    for (let k = 0; k < 50; k++) expect(pick([slowLocal, fastOther], { localId: 'local' }, now)!.id).toBe('local');
    // Nothing to compare with yet: its own usual is the reference.
    expect(localIsSlow({ ...c('local'), latency: lat(900, 100) }, [c('x')], 3, now)).toBe(true);
    // Everything fast: no yielding over milliseconds.
    expect(localIsSlow({ ...c('local'), latency: lat(12) }, [{ ...c('x'), latency: lat(1) }], 3, now)).toBe(false);
  });
});
