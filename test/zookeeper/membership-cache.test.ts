import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SidecarError } from '../../src/errors.ts';
import { Membership, type MembershipChange } from '../../src/zookeeper/membership.ts';
import { FAKE_DIR as DIR, FakeZk } from '../support/fake-zk.ts';

describe('Membership payload cache: a change costs one read, not one per replica', () => {
  let zk: FakeZk;
  let m: Membership;
  let changes: MembershipChange[];
  const settle = async (ms = 0) => {
    await vi.advanceTimersByTimeAsync(ms);
    await m.idle();
  };
  const live = () => m.snapshot.replicas.map((r) => `${r.id}:${r.weight}`).join(',');
  const reads = () => ({ ...zk.reads });
  const since = (before: { getChildren: number; getData: number }) => ({
    getChildren: zk.reads.getChildren - before.getChildren,
    getData: zk.reads.getData - before.getData,
  });

  beforeEach(async () => {
    vi.useFakeTimers();
    zk = new FakeZk();
    m = new Membership(zk, { dir: DIR, retry: { baseMs: 10, maxMs: 100 }, settleMs: 3000, rereadJitterMs: 1000, random: () => 0.5 });
    changes = [];
    m.on('change', (c) => changes.push(c));
    for (const id of ['a', 'b', 'c']) zk.add(id);
    m.start();
    zk.connect('s1', { renewed: false });
    await settle();
    expect(live()).toBe('a:100,b:100,c:100');
    expect(zk.reads).toEqual({ getChildren: 1, getData: 3 });
  });

  afterEach(() => {
    m.close();
    vi.useRealTimers();
  });

  it('reads only the child that joined', async () => {
    const before = reads();
    zk.add('d');
    await settle();
    expect(live()).toBe('a:100,b:100,c:100,d:100');
    expect(since(before)).toEqual({ getChildren: 1, getData: 1 });
    expect(changes.at(-1)).toMatchObject({ joined: ['d'], left: [], updated: [] });
  });

  it('a child that left costs one listing and no payload read', async () => {
    const before = reads();
    zk.drop('b');
    await settle();
    expect(live()).toBe('a:100,c:100');
    expect(since(before)).toEqual({ getChildren: 1, getData: 0 });
    expect(changes.at(-1)).toMatchObject({ joined: [], left: ['b'], updated: [] });
  });

  it('a payload update (weight) re-reads that one child through its data watch, without listing', async () => {
    const before = reads();
    zk.update('b', 7);
    await settle();
    expect(live()).toBe('a:100,b:7,c:100');
    expect(since(before)).toEqual({ getChildren: 0, getData: 1 });
    expect(changes.at(-1)).toMatchObject({ joined: [], left: [], updated: ['b'] });
    // The watch was re-armed by that read: the next update is seen too.
    zk.update('b', 9);
    await settle();
    expect(live()).toBe('a:100,b:9,c:100');
  });

  it('a replica that registers again under the same name (new czxid) is read again', async () => {
    const before = reads();
    zk.drop('c');
    zk.add('c', 'other', 42); // same name, new incarnation, different payload
    await settle();
    expect(live()).toBe('a:100,b:100,c:42');
    expect(since(before).getData).toBe(1);
  });

  it('a change elsewhere re-reads no payload and publishes nothing new', async () => {
    const snapshots: unknown[] = [];
    m.on('snapshot', (s) => snapshots.push(s));
    const first = m.snapshot.replicas[0];
    zk.add('d');
    await settle();
    expect(m.snapshot.replicas[0]).toBe(first); // the cached payload object, not a fresh decode
    expect(snapshots).toHaveLength(1);
  });

  it('warns about a bad payload once and does not read it again until it changes', async () => {
    const bad: SidecarError[] = [];
    m.on('badPayload', (e) => bad.push(e));
    zk.addRaw('x', Buffer.from('{{{'));
    await settle();
    expect(bad).toHaveLength(1);
    const before = reads();
    zk.add('d');
    await settle();
    expect(bad).toHaveLength(1);
    expect(since(before)).toEqual({ getChildren: 1, getData: 1 });
    zk.addRaw('x', Buffer.from(JSON.stringify({ id: 'x', url: 'http://127.0.0.1:1/x', zone: 'default', weight: 3, version: 't', startedAt: new Date(0).toISOString() })));
    await settle();
    expect(live()).toBe('a:100,b:100,c:100,d:100,x:3');
  });

  it('after a reconnect on the same session lists once, after the jitter; a new session re-reads every payload once', async () => {
    zk.disconnect();
    await settle();
    let before = reads();
    zk.connect('s1');
    await settle(499);
    expect(since(before)).toEqual({ getChildren: 0, getData: 0 }); // random 0.5 × 1000 ms
    expect(m.snapshot.stale).toBe(true);
    await settle(1);
    expect(since(before)).toEqual({ getChildren: 1, getData: 0 });
    expect(m.snapshot.stale).toBe(false);

    zk.disconnect();
    await settle();
    zk.forgetWatches();
    before = reads();
    zk.connect('s2', { renewed: true });
    await settle(500);
    expect(since(before)).toEqual({ getChildren: 1, getData: 3 });
    expect(live()).toBe('a:100,b:100,c:100');
    // The data watches are armed again under the new session.
    zk.update('a', 5);
    await settle();
    expect(live()).toBe('a:5,b:100,c:100');
  });

  it('a watch event during the jitter pause reads at once (a real change is not delayed)', async () => {
    zk.disconnect();
    await settle();
    zk.connect('s1');
    zk.add('d');
    await settle();
    expect(live()).toBe('a:100,b:100,c:100,d:100');
    expect(m.snapshot.stale).toBe(false);
  });
});
