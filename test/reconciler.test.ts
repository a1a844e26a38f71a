import { describe, expect, it } from 'vitest';
import { Reconciler } from '../src/reconciler.ts';

describe('Reconciler', () => {
  it('coalesces triggers that arrive during a run into one more run', async () => {
    let runs = 0;
    let release!: () => void;
    const r = new Reconciler(
      async () => {
        runs++;
        if (runs === 1) await new Promise<void>((res) => (release = res));
      },
      { baseMs: 1, maxMs: 1 },
      () => undefined,
    );
    r.kick();
    r.kick();
    r.kick();
    r.kick();
    release();
    await r.idle();
    expect(runs).toBe(2);
  });

  it('retries a failing task with backoff until it succeeds, reporting each failure', async () => {
    let runs = 0;
    const errors: number[] = [];
    const r = new Reconciler(
      () => {
        runs++;
        return runs < 3 ? Promise.reject(new Error('not yet')) : Promise.resolve();
      },
      { baseMs: 5, maxMs: 10 },
      (_err, retryInMs) => errors.push(retryInMs),
    );
    r.kick();
    await expect.poll(() => runs, { timeout: 2000 }).toBe(3);
    expect(errors).toHaveLength(2);
    expect(errors.every((ms) => ms >= 0 && ms <= 10)).toBe(true);
  });

  it('stops retrying once closed', async () => {
    let runs = 0;
    const r = new Reconciler(() => {
      runs++;
      return Promise.reject(new Error('always'));
    }, { baseMs: 20, maxMs: 20 }, () => undefined);
    r.kick();
    await r.idle();
    r.close();
    await new Promise((res) => setTimeout(res, 100));
    expect(runs).toBe(1);
  });
});
