import { describe, expect, it } from 'vitest';
import { RetryBudget } from '../../src/routing/retry-budget.ts';

describe('RetryBudget', () => {
  it('allows the floor when idle, then ratio × recent requests', () => {
    let now = 1_000_000;
    const b = new RetryBudget({ ratio: 0.1, minPerSec: 1, windowMs: 10_000 }, () => now);
    // Floor: 1/s over a 10 s window = 10 retries with no traffic at all.
    let granted = 0;
    while (b.tryAcquire()) granted++;
    expect(granted).toBe(10);
    for (let i = 0; i < 200; i++) b.recordRequest();
    granted = 0;
    while (b.tryAcquire()) granted++;
    expect(granted).toBe(20); // 0.1 × 200 on top of the floor already spent
    now += 5_000;
    expect(b.tryAcquire()).toBe(false); // still inside the window
  });

  it('forgets requests and retries older than the window', () => {
    let now = 0;
    const b = new RetryBudget({ ratio: 0.5, minPerSec: 0, windowMs: 3_000 }, () => now);
    for (let i = 0; i < 10; i++) b.recordRequest();
    let granted = 0;
    while (b.tryAcquire()) granted++;
    expect(granted).toBe(5);
    now += 3_000;
    expect(b.tryAcquire()).toBe(false); // the 10 requests have aged out, and so did the 5 retries
    for (let i = 0; i < 4; i++) b.recordRequest();
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
  });

  it('ages out bucket by bucket', () => {
    let now = 0;
    const b = new RetryBudget({ ratio: 1, minPerSec: 0, windowMs: 2_000 }, () => now);
    b.recordRequest(); // second 0
    now = 1_000;
    b.recordRequest(); // second 1
    now = 2_000; // second 0 leaves the window
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
  });
});
