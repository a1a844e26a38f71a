import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, type SidecarError } from '../../src/errors.ts';
import { encodePayload } from '../../src/zookeeper/payload.ts';
import { Watcher, testRoot } from '../support/harness.ts';

function payload(id: string) {
  return encodePayload({ id, url: `http://127.0.0.1:1/${id}`, zone: 'z1', weight: 100, version: 'test', startedAt: new Date().toISOString() });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

describe('membership watch (real ZooKeeper)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  function watcher(root: string): Watcher {
    const w = new Watcher(root).start();
    cleanups.push(() => w.close());
    return w;
  }

  it('skips a znode whose payload is not JSON or fails the schema, with a warning event, and never crashes', async () => {
    const root = testRoot();
    const w = watcher(root);
    const bad: SidecarError[] = [];
    w.membership.on('badPayload', (e) => bad.push(e));
    await w.until(() => true);
    const dir = `${root}/replicas`;
    await w.session.create(`${dir}/good-1`, payload('good-1'), 'ephemeral');
    await w.session.create(`${dir}/not-json`, Buffer.from('{{{'), 'ephemeral');
    await w.session.create(`${dir}/bad-schema`, Buffer.from(JSON.stringify({ id: 'bad-schema', url: 'http://x', weight: -1 })), 'ephemeral');
    await w.session.create(`${dir}/empty`, Buffer.alloc(0), 'ephemeral');
    await w.session.create(`${dir}/good-2`, payload('good-2'), 'ephemeral');
    await w.until((ids) => ids.join() === 'good-1,good-2');
    await expect.poll(() => bad.length).toBe(3);
    expect(bad.every((e) => e.code === ErrorCode.ZK_BAD_PAYLOAD)).toBe(true);
    expect(bad.map((e) => e.details.znode).sort()).toEqual(['bad-schema', 'empty', 'not-json']);
    // A later change re-reads everything but warns about the same bad node only once.
    await w.session.remove(`${dir}/good-2`);
    await w.until((ids) => ids.join() === 'good-1');
    expect(bad).toHaveLength(3);
    // Fixing a bad node's payload brings it in.
    await w.session.setData(`${dir}/not-json`, Buffer.from('x'));
    await w.session.remove(`${dir}/not-json`);
    await w.session.create(`${dir}/not-json`, payload('not-json'), 'ephemeral');
    await w.until((ids) => ids.join() === 'good-1,not-json');
  });

  it('sees creates and deletes quickly (watch latency, printed)', async () => {
    const root = testRoot();
    const w = watcher(root);
    const writer = watcher(root);
    await w.until(() => true);
    await writer.until(() => true);
    const dir = `${root}/replicas`;
    const created: number[] = [];
    const deleted: number[] = [];
    for (let i = 0; i < 40; i++) {
      const id = `lat-${i}`;
      let t = performance.now();
      await writer.session.create(`${dir}/${id}`, payload(id), 'ephemeral');
      await w.until((ids) => ids.includes(id), 5000);
      created.push(performance.now() - t);
      t = performance.now();
      await writer.session.remove(`${dir}/${id}`);
      await w.until((ids) => !ids.includes(id), 5000);
      deleted.push(performance.now() - t);
    }
    created.sort((a, b) => a - b);
    deleted.sort((a, b) => a - b);
    const fmt = (xs: number[]) => `p50 ${percentile(xs, 0.5).toFixed(1)} ms, p95 ${percentile(xs, 0.95).toFixed(1)} ms, max ${xs.at(-1)!.toFixed(1)} ms`;
    console.log(`[measure] watch latency over 40 cycles: create→seen ${fmt(created)}; delete→seen ${fmt(deleted)}`);
    expect(percentile(created, 0.5)).toBeLessThan(500);
    expect(percentile(deleted, 0.5)).toBeLessThan(500);
  });

  it('believes an empty set from a connected session', async () => {
    const root = testRoot();
    const w = watcher(root);
    const writer = watcher(root);
    await writer.until(() => true);
    await writer.session.create(`${root}/replicas/only`, payload('only'), 'ephemeral');
    await w.until((ids) => ids.join() === 'only');
    await writer.session.remove(`${root}/replicas/only`);
    await w.until((ids) => ids.length === 0);
    expect(w.membership.snapshot.stale).toBe(false);
  });
});
