import { EventEmitter } from 'node:events';
import { ErrorCode, SidecarError } from '../../src/errors.ts';
import type { NodeStat, SessionState, ZkApi, ZkEvents, ZkWatcher } from '../../src/zookeeper/api.ts';
import { encodePayload } from '../../src/zookeeper/payload.ts';

export const FAKE_DIR = '/t/replicas';

/**
 * An in-memory replicas/ directory (FAKE_DIR) behind the ZkApi surface that Membership and Registration use.
 * The test drives the session: connect (optionally as a renewed session), disconnect.
 */
export class FakeZk extends EventEmitter<ZkEvents> implements ZkApi {
  state: SessionState = { kind: 'connecting' };
  /** Child name → data and owning session. */
  readonly nodes = new Map<string, Buffer>();
  readonly owners = new Map<string, string>();
  readonly created: { id: string; at: number }[] = [];
  /** Child name → creation counter (the fake's czxid) and data version. */
  readonly #czxid = new Map<string, number>();
  readonly #version = new Map<string, number>();
  #zxid = 0;
  /** Reads served, by operation: what a change costs. */
  readonly reads = { getChildren: 0, getData: 0 };
  #watchers = new Set<ZkWatcher>();
  #dataWatchers = new Map<string, Set<ZkWatcher>>();

  /** Connects; `session` announces a new session (renewed: the previous one expired) before `connected`, as ZkSession does. */
  connect(sessionId = 's1', session?: { renewed: boolean }): void {
    this.state = { kind: 'connected', sessionId };
    this.emit('state', this.state);
    if (session) this.emit('session', { sessionId, renewed: session.renewed });
    this.emit('connected', { sessionId });
  }

  disconnect(): void {
    if (this.state.kind !== 'connected') return;
    this.state = { kind: 'disconnected', sessionId: this.state.sessionId, since: Date.now(), suspect: false };
    this.emit('state', this.state);
  }

  add(id: string, owner = 'other', weight = 100): void {
    this.owners.set(id, owner);
    this.#put(id, encodePayload({ id, url: `http://127.0.0.1:1/${id}`, zone: 'default', weight, version: 't', startedAt: new Date(0).toISOString() }));
    this.#fire();
  }

  /** Creates or replaces a node with raw bytes (a bad payload, say), as a new node. */
  addRaw(id: string, data: Buffer, owner = 'other'): void {
    this.owners.set(id, owner);
    this.#put(id, data);
    this.#fire();
  }

  /** setData on an existing node: its data watchers fire. */
  update(id: string, weight: number): void {
    const data = encodePayload({ id, url: `http://127.0.0.1:1/${id}`, zone: 'default', weight, version: 't', startedAt: new Date(0).toISOString() });
    this.nodes.set(id, data);
    this.#version.set(id, (this.#version.get(id) ?? 0) + 1);
    this.#fireData(id, 'NODE_DATA_CHANGED');
  }

  drop(id: string): void {
    if (!this.nodes.delete(id)) return;
    this.owners.delete(id);
    this.#fireData(id, 'NODE_DELETED');
    this.#fire();
  }

  #put(id: string, data: Buffer): void {
    if (this.nodes.has(id)) {
      this.nodes.delete(id);
      this.#fireData(id, 'NODE_DELETED');
    }
    this.nodes.set(id, data);
    this.#czxid.set(id, ++this.#zxid);
    this.#version.set(id, 0);
  }

  #fireData(id: string, type: string): void {
    const ws = this.#dataWatchers.get(id);
    if (ws === undefined || this.state.kind !== 'connected') return;
    this.#dataWatchers.delete(id);
    for (const w of ws) w({ type, path: `${FAKE_DIR}/${id}` });
  }

  /** The ensemble expired `sessionId`: its ephemeral nodes go. */
  expire(sessionId: string): void {
    for (const [id, owner] of this.owners) if (owner === sessionId) this.drop(id);
  }

  #fire(): void {
    // ZooKeeper only delivers watch events over a connected session.
    if (this.state.kind !== 'connected') return;
    const ws = this.#watchers;
    this.#watchers = new Set();
    for (const w of ws) w({ type: 'NODE_CHILDREN_CHANGED', path: FAKE_DIR });
  }

  /** A new session: the server forgets the old one's watches. */
  forgetWatches(): void {
    this.#watchers.clear();
    this.#dataWatchers.clear();
  }

  getChildren(_path: string, watcher?: ZkWatcher): Promise<string[]> {
    this.#connected();
    this.reads.getChildren++;
    if (watcher) this.#watchers.add(watcher);
    return Promise.resolve([...this.nodes.keys()]);
  }

  #stat(id: string): NodeStat | null {
    const data = this.nodes.get(id);
    return data === undefined
      ? null
      : { version: this.#version.get(id) ?? 0, ephemeralOwner: this.owners.get(id) ?? '0', dataLength: data.length, czxid: (this.#czxid.get(id) ?? 0).toString(16) };
  }

  #connected(): string {
    if (this.state.kind !== 'connected') throw new SidecarError(ErrorCode.ZK_CONNECTION_LOSS, 'not connected');
    return this.state.sessionId;
  }

  getData(path: string, watcher?: ZkWatcher): Promise<{ data: Buffer; stat: NodeStat }> {
    const id = path.slice(FAKE_DIR.length + 1);
    this.reads.getData++;
    const data = this.nodes.get(id);
    if (data === undefined) return Promise.reject(new SidecarError(ErrorCode.ZK_NO_NODE, 'no node'));
    if (watcher) {
      const ws = this.#dataWatchers.get(id) ?? new Set();
      ws.add(watcher);
      this.#dataWatchers.set(id, ws);
    }
    return Promise.resolve({ data, stat: this.#stat(id)! });
  }

  exists(path: string): Promise<NodeStat | null> {
    this.#connected();
    return Promise.resolve(this.#stat(path.slice(FAKE_DIR.length + 1)));
  }

  create(path: string, data: Buffer): Promise<string> {
    const owner = this.#connected();
    const id = path.slice(FAKE_DIR.length + 1);
    if (this.nodes.has(id)) return Promise.reject(new SidecarError(ErrorCode.ZK_NODE_EXISTS, 'exists'));
    this.#put(id, data);
    this.owners.set(id, owner);
    this.created.push({ id, at: Date.now() });
    this.#fire();
    return Promise.resolve(path);
  }

  remove(path: string): Promise<void> {
    this.#connected();
    this.drop(path.slice(FAKE_DIR.length + 1));
    return Promise.resolve();
  }

  mkdirp(): Promise<void> {
    return Promise.resolve();
  }

  setData(path: string, data: Buffer): Promise<NodeStat> {
    this.#connected();
    const id = path.slice(FAKE_DIR.length + 1);
    if (!this.nodes.has(id)) return Promise.reject(new SidecarError(ErrorCode.ZK_NO_NODE, 'no node'));
    this.nodes.set(id, data);
    this.#version.set(id, (this.#version.get(id) ?? 0) + 1);
    this.#fireData(id, 'NODE_DATA_CHANGED'); // as ZooKeeper: a data change fires data watches, not the children watch
    return Promise.resolve(this.#stat(id)!);
  }
}
