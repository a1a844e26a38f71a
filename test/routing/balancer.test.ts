import { describe, expect, it } from 'vitest';
import { pick, type Candidate } from '../../src/routing/balancer.ts';

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
});
