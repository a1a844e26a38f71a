import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Registration } from '../../src/zookeeper/registration.ts';
import { FAKE_DIR, FakeZk } from '../support/fake-zk.ts';

const payload = { id: 'r1', url: 'http://127.0.0.1:8088', zone: 'default', weight: 100, version: 't', startedAt: new Date(0).toISOString() };

describe('Registration after a session expiry', () => {
  let zk: FakeZk;
  let reg: Registration;
  const settle = async (ms = 0) => {
    await vi.advanceTimersByTimeAsync(ms);
  };

  beforeEach(async () => {
    vi.useFakeTimers();
    zk = new FakeZk();
    reg = new Registration(zk, { dir: FAKE_DIR, payload, jitterMs: 1000, drainAnnounceMs: 0, retry: { baseMs: 10, maxMs: 100 } });
    reg.start();
    zk.connect('s1', { renewed: false });
    reg.setHealthy(true);
    await settle();
    expect(zk.owners.get('r1')).toBe('s1');
  });

  afterEach(() => {
    reg.close();
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  it('waits its random jitter before re-creating the node, although `connected` and health changes kick it sooner', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.6); // jitter: 600 ms of 1000
    zk.disconnect();
    zk.expire('s1');
    const renewedAt = Date.now();
    zk.connect('s2', { renewed: true }); // ZkSession emits `session` then `connected`, back to back
    await settle();
    expect(reg.registered).toBe(false);
    reg.setHealthy(false);
    reg.setHealthy(true); // another kick inside the window
    await settle(599);
    expect(zk.nodes.has('r1')).toBe(false);
    await settle(1);
    expect(zk.owners.get('r1')).toBe('s2');
    expect(zk.created.at(-1)).toEqual({ id: 'r1', at: renewedAt + 600 });
    expect(reg.registered).toBe(true);
  });

  it('deregisters at once inside the jitter window: only re-creation waits', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.9);
    zk.disconnect();
    zk.expire('s1');
    zk.connect('s2', { renewed: true });
    await settle(100);
    reg.setHealthy(false);
    await settle();
    expect(reg.registered).toBe(false);
    await settle(2000);
    expect(zk.nodes.has('r1')).toBe(false); // unhealthy: never re-created
  });

  it('a reconnect with the same session does not wait', async () => {
    zk.disconnect();
    zk.drop('r1'); // (as if removed by hand while we were away)
    zk.connect('s1');
    await settle();
    expect(zk.owners.get('r1')).toBe('s1');
  });
});

describe('Registration drain', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('marks the payload draining, waits drainAnnounceMs, then deletes: routers can tell a drain from a failure', async () => {
    vi.useFakeTimers();
    const zk = new FakeZk();
    const reg = new Registration(zk, { dir: FAKE_DIR, payload, jitterMs: 0, drainAnnounceMs: 300, retry: { baseMs: 10, maxMs: 100 } });
    reg.start();
    zk.connect('s1', { renewed: false });
    reg.setHealthy(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(JSON.parse(zk.nodes.get('r1')!.toString())).not.toHaveProperty('state');
    const drained = reg.drain(5000);
    await vi.advanceTimersByTimeAsync(0);
    expect(JSON.parse(zk.nodes.get('r1')!.toString())).toMatchObject({ id: 'r1', state: 'draining' });
    await vi.advanceTimersByTimeAsync(250);
    expect(zk.nodes.has('r1')).toBe(true);
    await vi.advanceTimersByTimeAsync(100);
    expect(zk.nodes.has('r1')).toBe(false);
    expect(await drained).toBe(true);
    reg.close();
  });

  it('an unhealthy replica is deleted at once, unmarked: routers treat it as failed', async () => {
    vi.useFakeTimers();
    const zk = new FakeZk();
    const reg = new Registration(zk, { dir: FAKE_DIR, payload, jitterMs: 0, drainAnnounceMs: 300, retry: { baseMs: 10, maxMs: 100 } });
    const seen: string[] = [];
    const orig = zk.setData.bind(zk);
    zk.setData = (path, data) => {
      seen.push(data.toString());
      return orig(path, data);
    };
    reg.start();
    zk.connect('s1', { renewed: false });
    reg.setHealthy(true);
    await vi.advanceTimersByTimeAsync(0);
    reg.setHealthy(false);
    await vi.advanceTimersByTimeAsync(0);
    expect(zk.nodes.has('r1')).toBe(false);
    expect(seen).toEqual([]);
    reg.close();
  });
});
