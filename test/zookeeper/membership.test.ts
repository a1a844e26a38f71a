import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Membership, type MembershipSnapshot } from '../../src/zookeeper/membership.ts';
import { FAKE_DIR as DIR, FakeZk } from '../support/fake-zk.ts';

describe('Membership settle window after a ZooKeeper outage', () => {
  let zk: FakeZk;
  let m: Membership;
  let seen: MembershipSnapshot[];
  const settle = async (ms = 0) => {
    await vi.advanceTimersByTimeAsync(ms);
    await m.idle();
  };
  const live = () => m.snapshot.replicas.map((r) => r.id).join(',');

  beforeEach(async () => {
    vi.useFakeTimers();
    zk = new FakeZk();
    m = new Membership(zk, { dir: DIR, retry: { baseMs: 10, maxMs: 100 }, settleMs: 3000 });
    seen = [];
    m.on('snapshot', (s) => seen.push(s));
    zk.add('a');
    zk.add('b');
    zk.add('c');
    m.start();
    zk.connect();
    await settle();
    expect(m.snapshot).toMatchObject({ stale: false, held: [] });
    expect(live()).toBe('a,b,c');
  });

  afterEach(() => {
    m.close();
    vi.useRealTimers();
  });

  it('keeps replicas that vanished during the outage (held, stale) until their registrars are back', async () => {
    zk.disconnect();
    await settle();
    expect(m.snapshot.stale).toBe(true);
    // Every session expired: all znodes are gone when the session comes back; they return one by one.
    zk.nodes.clear();
    zk.connect('s2');
    await settle();
    expect(m.snapshot).toMatchObject({ stale: true, held: ['a', 'b', 'c'] });
    expect(live()).toBe('a,b,c');
    zk.add('b');
    await settle(500);
    expect(m.snapshot).toMatchObject({ stale: true, held: ['a', 'c'] });
    zk.add('a');
    zk.add('c');
    await settle(500);
    // Everyone is back: nothing held, fresh.
    expect(m.snapshot).toMatchObject({ stale: false, held: [] });
    expect(live()).toBe('a,b,c');
    // No snapshot since the outage ever had fewer than the three replicas.
    expect(seen.every((s) => s.replicas.length === 3)).toBe(true);
  });

  it('holds a replica that vanishes after the others are back, while the window is open (a late expiry)', async () => {
    zk.disconnect();
    await settle();
    zk.connect('s2');
    await settle();
    expect(m.snapshot).toMatchObject({ stale: false, held: [] });
    zk.drop('a'); // the resumed leader expires a's session only now
    await settle(1000);
    expect(m.snapshot).toMatchObject({ stale: true, held: ['a'] });
    expect(live()).toBe('a,b,c');
    zk.add('a');
    await settle();
    expect(m.snapshot).toMatchObject({ stale: false, held: [] });
  });

  it('believes a removal once the window has passed: a replica that really died is dropped', async () => {
    zk.disconnect();
    await settle();
    zk.nodes.delete('c');
    zk.connect('s2');
    await settle();
    expect(m.snapshot).toMatchObject({ stale: true, held: ['c'] });
    await settle(2999);
    expect(live()).toBe('a,b,c');
    await settle(1);
    expect(m.snapshot).toMatchObject({ stale: false, held: [] });
    expect(live()).toBe('a,b');
  });

  it('believes removals at once over a session that never lost ZooKeeper', async () => {
    zk.drop('b');
    await settle();
    expect(m.snapshot).toMatchObject({ stale: false, held: [] });
    expect(live()).toBe('a,c');
  });

  it('believes removals read after the window even if they are first seen then', async () => {
    zk.disconnect();
    await settle();
    zk.connect();
    await settle();
    expect(m.snapshot).toMatchObject({ stale: false, held: [] }); // nothing missing: no hold at all
    await settle(5000);
    zk.drop('a');
    await settle();
    expect(m.snapshot).toMatchObject({ stale: false, held: [] });
    expect(live()).toBe('b,c');
  });

  it('takes new replicas in at once during the window', async () => {
    zk.disconnect();
    await settle();
    zk.nodes.clear();
    zk.connect('s2');
    await settle();
    zk.add('d');
    await settle();
    expect(live()).toBe('a,b,c,d');
    expect(m.snapshot).toMatchObject({ stale: true, held: ['a', 'b', 'c'] });
    await settle(3000);
    expect(live()).toBe('d');
    expect(m.snapshot.stale).toBe(false);
  });

  it('holds nothing on the first connection: there is no earlier set to keep', async () => {
    const fresh = new FakeZk();
    const m2 = new Membership(fresh, { dir: DIR, retry: { baseMs: 10, maxMs: 100 }, settleMs: 3000 });
    m2.start();
    fresh.connect();
    await vi.advanceTimersByTimeAsync(0);
    await m2.idle();
    expect(m2.snapshot).toMatchObject({ stale: false, held: [], replicas: [] });
    m2.close();
  });
});
