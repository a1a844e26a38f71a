import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, SidecarError } from '../../src/errors.ts';
import { Election } from '../../src/zookeeper/election.ts';
import { FakeTree, type FakeZkClient } from '../support/fake-zk-tree.ts';

const DIR = '/t/election';
const T = 10_000;

function candidate(tree: FakeTree, id: string, fraction = 0.5): { zk: FakeZkClient; el: Election; log: string[] } {
  const zk = tree.client();
  const el = new Election(zk, { dir: DIR, id, sessionTimeoutMs: T, disconnectFraction: fraction, retry: { baseMs: 1, maxMs: 5 } });
  const log: string[] = [];
  el.on('leading', ({ leading, reason }) => log.push(`${leading ? 'lead' : 'follow'}:${reason}`));
  el.on('error', () => undefined); // steps against a closed fake session fail and retry; not what these tests look at
  el.start();
  return { zk, el, log };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 50; i++) await Promise.resolve();
}

const leaders = (cs: { el: Election }[]) => cs.filter((c) => c.el.leading).length;

afterEach(() => {
  vi.useRealTimers();
});

describe('Election', () => {
  it('elects the lowest candidate; each other one watches only its predecessor', async () => {
    const tree = new FakeTree();
    const cs = [candidate(tree, 'a'), candidate(tree, 'b'), candidate(tree, 'c')];
    for (const c of cs) {
      c.zk.connect();
      await settle();
    }
    expect(cs.map((c) => c.el.leading)).toEqual([true, false, false]);
    expect(cs.map((c) => c.zk.writes)).toEqual([1, 0, 0]); // the leader confirmed its claim with one write
    const nodes = cs.map((c) => c.el.node!);
    expect(nodes.every((n) => /^\/t\/election\/n_[0-9a-f-]{36}_\d{10}$/.test(n))).toBe(true);
    // a watches its own node; b watches a's; c watches b's; nobody watches c's: no herd.
    expect(nodes.map((n) => tree.watchers(n))).toEqual([2, 1, 0]);
    expect(JSON.parse(tree.nodes.get(nodes[0]!)!.data.toString())).toEqual({ id: 'a' });
    expect(cs[2]!.el.leader).toEqual({ id: 'a', node: nodes[0]!.slice(DIR.length + 1) });
    expect(await cs[1]!.el.readLeader()).toEqual({ id: 'a', node: nodes[0]!.slice(DIR.length + 1) });
  });

  it('hands over to the next candidate only, when the leader leaves', async () => {
    const tree = new FakeTree();
    const cs = [candidate(tree, 'a'), candidate(tree, 'b'), candidate(tree, 'c')];
    for (const c of cs) {
      c.zk.connect();
      await settle();
    }
    const cReads = vi.spyOn(cs[2]!.zk, 'getChildren');
    cs[0]!.zk.closeSession();
    await settle();
    expect(cs.map((c) => c.el.leading)).toEqual([false, true, false]);
    expect(cReads).not.toHaveBeenCalled(); // c was not woken: it watches b, which did not go
    expect(cs[1]!.log).toEqual(['lead:elected']);
  });

  it('a middle candidate leaving re-points the next one at its predecessor, leadership unchanged', async () => {
    const tree = new FakeTree();
    const cs = [candidate(tree, 'a'), candidate(tree, 'b'), candidate(tree, 'c')];
    for (const c of cs) {
      c.zk.connect();
      await settle();
    }
    cs[1]!.zk.closeSession();
    await settle();
    expect(cs.map((c) => c.el.leading)).toEqual([true, false, false]);
    cs[0]!.zk.closeSession();
    await settle();
    expect(cs[2]!.el.leading).toBe(true);
  });

  it('steps down once disconnected for the configured fraction of the session timeout, and back on reconnect', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const tree = new FakeTree();
    const a = candidate(tree, 'a', 0.5);
    const sid = a.zk.connect();
    await settle();
    expect(a.el.leading).toBe(true);
    vi.advanceTimersByTime(1_000); // last contact was at connect
    a.zk.disconnect();
    vi.advanceTimersByTime(3_999); // 5 s after the last contact is 4 s after the disconnect
    expect(a.el.leading).toBe(true);
    vi.advanceTimersByTime(1);
    expect(a.el.leading).toBe(false);
    expect(a.log).toEqual(['lead:elected', 'follow:disconnected']);
    a.zk.connect({ sessionId: sid }); // same session: our node is still there and still lowest
    await settle();
    expect(a.el.leading).toBe(true);
  });

  it('counts the grace from the last confirmed probe, and uses a shorter negotiated timeout', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const tree = new FakeTree();
    const a = candidate(tree, 'a', 0.5);
    a.zk.connect({ timeoutMs: 4_000 }); // the ensemble negotiated 4 s, not the 10 s asked for
    await settle();
    vi.advanceTimersByTime(1_500);
    a.zk.emit('probe', { ok: true, ms: 500 }); // heard at t=1000
    vi.advanceTimersByTime(2_000);
    a.zk.disconnect(); // t=3500
    expect(a.el.leading).toBe(true);
    vi.advanceTimersByTime(0);
    expect(a.el.leading).toBe(false); // 1000 + 0.5·4000 = 3000 < 3500: at once
  });

  it('re-enters with a new node after its session expired, behind those who stayed', async () => {
    const tree = new FakeTree();
    const a = candidate(tree, 'a');
    const b = candidate(tree, 'b');
    a.zk.connect();
    await settle();
    b.zk.connect();
    await settle();
    const before = a.el.node;
    a.zk.expireAndRenew();
    await settle();
    expect(b.el.leading).toBe(true);
    expect(a.el.leading).toBe(false);
    expect(a.el.node).not.toBe(before);
    expect(tree.children(DIR)).toHaveLength(2);
    expect(a.log).toEqual(['lead:elected', 'follow:session expired']);
  });

  it('finds its own node after a create whose answer was lost, instead of entering twice', async () => {
    const tree = new FakeTree();
    const a = candidate(tree, 'a');
    const errors: string[] = [];
    a.el.on('error', ({ error }) => errors.push(error.code));
    a.zk.loseNextCreateAnswer = true;
    a.zk.connect();
    await new Promise((r) => setTimeout(r, 30));
    await settle();
    expect(errors).toEqual(['SHA_ZK_CONNECTION_LOSS']);
    expect(tree.children(DIR)).toHaveLength(1);
    expect(a.el.leading).toBe(true);
  });

  it('resign deletes its node so the next candidate leads at once; close is safe twice', async () => {
    const tree = new FakeTree();
    const cs = [candidate(tree, 'a'), candidate(tree, 'b')];
    for (const c of cs) {
      c.zk.connect();
      await settle();
    }
    await cs[0]!.el.resign();
    await settle();
    expect(cs.map((c) => c.el.leading)).toEqual([false, true]);
    expect(tree.children(DIR)).toHaveLength(1);
    cs[0]!.el.close();
    cs[0]!.el.close();
    expect(leaders(cs)).toBe(1);
  });

  it('does not lead when the confirming write is refused (session expired at the ZooKeeper leader), until one succeeds', async () => {
    const tree = new FakeTree();
    const a = candidate(tree, 'a');
    const refused = vi.spyOn(a.zk, 'setData').mockRejectedValueOnce(new SidecarError(ErrorCode.ZK_SESSION_EXPIRED, 'expired'));
    const writesWhenLeading: number[] = [];
    a.el.on('leading', ({ leading }) => leading && writesWhenLeading.push(refused.mock.calls.length));
    a.zk.connect();
    await new Promise((r) => setTimeout(r, 30)); // the retry (backoff ≤ 5 ms here)
    await settle();
    expect(a.el.leading).toBe(true);
    expect(writesWhenLeading).toEqual([2]); // led only after the second, successful write
  });

  it('does not lead when another candidate entered between its read and its create (re-reads after creating)', async () => {
    const tree = new FakeTree();
    const a = candidate(tree, 'a');
    const read = a.zk.getChildren.bind(a.zk);
    let first = true;
    vi.spyOn(a.zk, 'getChildren').mockImplementation(async (path) => {
      const children = await read(path);
      if (first) {
        first = false;
        // b's create lands right after a's read, with the lower sequence number.
        tree.put(`${DIR}/n_b_${String(tree.nextSeq(DIR)).padStart(10, '0')}`, Buffer.from('{"id":"b"}'), 'sb');
      }
      return children;
    });
    a.zk.connect();
    await settle();
    expect(a.log).toEqual([]);
    expect(a.el.leading).toBe(false);
    expect(a.el.leader).toEqual({ id: 'b', node: 'n_b_0000000000' });
  });

  it('never leads while not connected', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const tree = new FakeTree();
    const a = candidate(tree, 'a');
    const b = candidate(tree, 'b');
    a.zk.connect();
    await settle();
    b.zk.connect();
    await settle();
    b.zk.disconnect();
    a.zk.closeSession(); // b's predecessor goes while b is disconnected
    await settle();
    expect(b.el.leading).toBe(false);
    b.zk.connect({ sessionId: (b.zk.state as { sessionId: string }).sessionId });
    await settle();
    expect(b.el.leading).toBe(true);
  });
});
