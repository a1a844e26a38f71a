import { describe, expect, it } from 'vitest';
import { OutlierState } from '../../src/routing/outlier.ts';

describe('OutlierState', () => {
  const opts = { consecutiveFailures: 3, baseEjectionMs: 1000, maxEjectionMs: 5000 };

  it('asks to eject after N consecutive failures; a success in between resets the count', () => {
    const o = new OutlierState(opts);
    expect(o.recordFailure(0)).toBe(false);
    expect(o.recordFailure(0)).toBe(false);
    o.recordSuccess(0);
    expect(o.recordFailure(0)).toBe(false);
    expect(o.recordFailure(0)).toBe(false);
    expect(o.recordFailure(0)).toBe(true);
  });

  it('doubles the ejection for each repeat up to the cap, and forgets after a successful probe', () => {
    const o = new OutlierState(opts);
    expect(o.eject(0)).toBe(1000);
    expect(o.isEjected(999)).toBe(true);
    expect(o.isEjected(1000)).toBe(false);
    expect(o.eject(1000)).toBe(2000);
    expect(o.eject(3000)).toBe(4000);
    expect(o.eject(7000)).toBe(5000);
    o.recordSuccess(12_000); // probe after the ejection passed
    expect(o.eject(12_000)).toBe(1000);
  });
});
