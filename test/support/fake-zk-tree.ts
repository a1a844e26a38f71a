import { EventEmitter } from 'node:events';
import { ErrorCode, SidecarError } from '../../src/errors.ts';
import type { NodeStat, SessionState, ZkApi, ZkEvents, ZkWatcher } from '../../src/zookeeper/api.ts';

/**
 * An in-memory ZooKeeper tree shared by several clients (one per candidate), with what election needs that
 * FakeZk (one replicas/ directory) lacks: sequential nodes, exists-watches, and several sessions whose
 * ephemerals go when the "ensemble" expires them.
 */
export class FakeTree {
  readonly nodes = new Map<string, { data: Buffer; owner: string; czxid: number }>();
  #zxid = 0;
  readonly #seq = new Map<string, number>();
  readonly #watches = new Map<string, Set<{ client: FakeZkClient; w: ZkWatcher }>>();

  client(): FakeZkClient {
    return new FakeZkClient(this);
  }

  /** The ensemble expires `sessionId`: its ephemeral nodes go (watchers fire). */
  expire(sessionId: string): void {
    for (const [path, n] of [...this.nodes]) if (n.owner === sessionId) this.delete(path);
  }

  nextSeq(parent: string): number {
    const n = this.#seq.get(parent) ?? 0;
    this.#seq.set(parent, n + 1);
    return n;
  }

  watch(path: string, client: FakeZkClient, w: ZkWatcher): void {
    let set = this.#watches.get(path);
    if (set === undefined) this.#watches.set(path, (set = new Set()));
    for (const e of set) if (e.client === client && e.w === w) return;
    set.add({ client, w });
  }

  /** How many clients watch `path` (the election must keep this at one per candidate: no herd). */
  watchers(path: string): number {
    return this.#watches.get(path)?.size ?? 0;
  }

  fire(path: string, type: string): void {
    const set = this.#watches.get(path);
    if (set === undefined) return;
    this.#watches.delete(path);
    // ZooKeeper delivers a watch event only over a connected session; others are kept until it is.
    for (const e of set) {
      if (e.client.state.kind === 'connected') e.w({ type, path });
      else this.watch(path, e.client, e.w);
    }
  }

  put(path: string, data: Buffer, owner: string): void {
    this.nodes.set(path, { data, owner, czxid: ++this.#zxid });
    this.fire(path, 'NODE_CREATED');
    this.fire(parentOf(path), 'NODE_CHILDREN_CHANGED');
  }

  delete(path: string): void {
    if (!this.nodes.delete(path)) return;
    this.fire(path, 'NODE_DELETED');
    this.fire(parentOf(path), 'NODE_CHILDREN_CHANGED');
  }

  children(dir: string): string[] {
    const out: string[] = [];
    for (const p of this.nodes.keys()) if (parentOf(p) === dir) out.push(p.slice(dir.length + 1));
    return out;
  }
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}

let sessions = 0;

export class FakeZkClient extends EventEmitter<ZkEvents> implements ZkApi {
  state: SessionState = { kind: 'connecting' };
  readonly #tree: FakeTree;
  /** When set, the next create happens in the tree but its answer is lost (connection loss). */
  loseNextCreateAnswer = false;

  constructor(tree: FakeTree) {
    super();
    this.#tree = tree;
  }

  /** Connects with a new session (renewed: the previous one expired) or, with `sessionId`, the same one. */
  connect(opts: { sessionId?: string; renewed?: boolean; timeoutMs?: number } = {}): string {
    const fresh = opts.sessionId === undefined;
    const sessionId = opts.sessionId ?? `s${++sessions}`;
    this.state = { kind: 'connected', sessionId };
    this.emit('state', this.state);
    if (fresh) this.emit('session', { sessionId, renewed: opts.renewed ?? false });
    this.emit('connected', { sessionId, ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }) });
    return sessionId;
  }

  disconnect(now = Date.now()): void {
    if (this.state.kind !== 'connected') return;
    this.state = { kind: 'disconnected', sessionId: this.state.sessionId, since: now, suspect: false };
    this.emit('state', this.state);
  }

  /** What ZkSession does when the ensemble says the session expired: `expired`, then a new session. */
  expireAndRenew(): string {
    const old = 'sessionId' in this.state ? this.state.sessionId : '';
    this.#tree.expire(old);
    this.state = { kind: 'connecting' };
    this.emit('expired', { sessionId: old });
    return this.connect({ renewed: true });
  }

  /** A clean close: the ensemble deletes our ephemerals at once. */
  closeSession(): void {
    if ('sessionId' in this.state) this.#tree.expire(this.state.sessionId);
    this.state = { kind: 'closed' };
    this.emit('state', this.state);
  }

  #session(): string {
    if (this.state.kind !== 'connected') throw new SidecarError(ErrorCode.ZK_CONNECTION_LOSS, 'not connected');
    return this.state.sessionId;
  }

  #stat(path: string): NodeStat | null {
    const n = this.#tree.nodes.get(path);
    return n === undefined ? null : { version: 0, ephemeralOwner: n.owner, dataLength: n.data.length, czxid: n.czxid.toString(16) };
  }

  async create(path: string, data: Buffer, mode: 'ephemeral' | 'persistent' | 'ephemeral_sequential'): Promise<string> {
    const owner = this.#session();
    await Promise.resolve();
    let full = path;
    if (mode === 'ephemeral_sequential') full = `${path}${String(this.#tree.nextSeq(parentOf(path))).padStart(10, '0')}`;
    if (this.#tree.nodes.has(full)) throw new SidecarError(ErrorCode.ZK_NODE_EXISTS, 'exists');
    this.#tree.put(full, data, mode === 'persistent' ? '0' : owner);
    if (this.loseNextCreateAnswer) {
      this.loseNextCreateAnswer = false;
      throw new SidecarError(ErrorCode.ZK_CONNECTION_LOSS, 'answer lost');
    }
    return full;
  }

  async remove(path: string): Promise<void> {
    this.#session();
    await Promise.resolve();
    if (!this.#tree.nodes.has(path)) throw new SidecarError(ErrorCode.ZK_NO_NODE, 'no node');
    this.#tree.delete(path);
  }

  async exists(path: string, watcher?: ZkWatcher): Promise<NodeStat | null> {
    this.#session();
    await Promise.resolve();
    if (watcher) this.#tree.watch(path, this, watcher);
    return this.#stat(path);
  }

  async getData(path: string): Promise<{ data: Buffer; stat: NodeStat }> {
    this.#session();
    await Promise.resolve();
    const n = this.#tree.nodes.get(path);
    if (n === undefined) throw new SidecarError(ErrorCode.ZK_NO_NODE, 'no node');
    return { data: n.data, stat: this.#stat(path)! };
  }

  async getChildren(path: string, watcher?: ZkWatcher): Promise<string[]> {
    this.#session();
    await Promise.resolve();
    if (watcher) this.#tree.watch(path, this, watcher);
    return this.#tree.children(path);
  }

  async mkdirp(): Promise<void> {
    this.#session();
    await Promise.resolve();
  }

  /** Counts writes, so a test can see that leadership was confirmed through the (fake) ZooKeeper leader. */
  writes = 0;
  async setData(path: string, data: Buffer): Promise<NodeStat> {
    const session = this.#session();
    await Promise.resolve();
    const n = this.#tree.nodes.get(path);
    if (n === undefined) throw new SidecarError(ErrorCode.ZK_NO_NODE, 'no node');
    this.writes++;
    void session;
    this.#tree.nodes.set(path, { ...n, data });
    return this.#stat(path)!;
  }
}
