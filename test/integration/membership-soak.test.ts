import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { afterEach, describe, expect, it } from 'vitest';
import { Membership } from '../../src/zookeeper/membership.ts';
import { encodePayload } from '../../src/zookeeper/payload.ts';
import { ZkSession } from '../../src/zookeeper/session.ts';
import { Watcher, testRoot, zkTestOptions } from '../support/harness.ts';

// Churn soak on the real ensemble: a router's cost per change and its heap must not grow with the number
// of changes it has seen (the old membership re-read every payload on every change, 10k reads per change
// on a 50-router fleet, and RSS nearly tripled during a rolling restart).
const REPLICAS = 50;
const CYCLES = 150; // each: one replica leaves and registers again with a new payload = 2 changes

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapAfterGc = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

function payload(id: string, weight: number): Buffer {
  return encodePayload({ id, url: `http://127.0.0.1:1/${id}`, zone: 'z1', weight, version: 'soak', startedAt: new Date().toISOString() });
}

describe('membership under churn (real ZooKeeper)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  it(`costs about one read per change and does not grow across ${2 * CYCLES} changes`, async () => {
    const root = testRoot();
    const dir = `${root}/replicas`;
    const writer = new Watcher(root).start();
    cleanups.push(() => writer.close());
    await writer.until(() => true);

    const session = new ZkSession({ ...zkTestOptions, retry: { baseMs: 50, maxMs: 500 } });
    const router = new Membership(session, { dir, retry: { baseMs: 50, maxMs: 500 }, settleMs: 10_000 });
    const errors: string[] = [];
    router.on('error', ({ error }) => errors.push(error.code));
    let reads = 0;
    router.on('reads', (r) => (reads += r.children + r.data));
    session.start();
    router.start();
    cleanups.push(async () => {
      router.close();
      await session.close();
    });

    const ids = Array.from({ length: REPLICAS }, (_, i) => `soak-${String(i).padStart(2, '0')}`);
    for (const id of ids) await writer.session.create(`${dir}/${id}`, payload(id, 100), 'ephemeral');
    const holds = async (id: string, weight: number | undefined) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const s = router.snapshot;
        const r = s.replicas.find((x) => x.id === id);
        if (!s.stale && (weight === undefined ? r === undefined : r?.weight === weight)) return;
        if (Date.now() > deadline) throw new Error(`router never saw ${id} with weight ${weight}: ${JSON.stringify(s.replicas.map((x) => [x.id, x.weight]))}`);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    };
    for (const id of ids) await holds(id, 100);

    const cycle = async (i: number) => {
      const id = ids[i % REPLICAS]!;
      await writer.session.remove(`${dir}/${id}`);
      await holds(id, undefined);
      const weight = 1 + (i % 900);
      await writer.session.create(`${dir}/${id}`, payload(id, weight), 'ephemeral');
      await holds(id, weight);
    };

    // Warm-up: the first third settles code caches and the heap; the rest is measured.
    const warm = Math.floor(CYCLES / 3);
    for (let i = 0; i < warm; i++) await cycle(i);
    await router.idle();
    const heap0 = heapAfterGc();
    const reads0 = reads;
    for (let i = warm; i < CYCLES; i++) await cycle(i);
    await router.idle();
    const heap1 = heapAfterGc();
    const changes = 2 * (CYCLES - warm);
    const perChange = (reads - reads0) / changes;
    console.log(`[measure] churn soak: ${changes} changes, ${perChange.toFixed(2)} reads per change, heap ${(heap0 / 2 ** 20).toFixed(1)} → ${(heap1 / 2 ** 20).toFixed(1)} MiB`);

    // A leave costs one listing, a join one listing and one payload read: 1.5 on average. A membership
    // that re-read every payload would cost ~REPLICAS per change.
    expect(perChange).toBeLessThan(2.5);
    expect(perChange).toBeGreaterThanOrEqual(1);
    // Live data is ~50 payloads; growth proportional to the changes seen would show as megabytes here.
    expect(heap1 - heap0).toBeLessThan(2 * 2 ** 20);
    expect(router.snapshot.replicas).toHaveLength(REPLICAS);
    expect(errors).toEqual([]);
  }, 120_000);
});
