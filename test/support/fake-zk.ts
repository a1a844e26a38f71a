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
  #watchers: ZkWatcher[] = [];

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

  add(id: string, owner = 'other'): void {
    this.owners.set(id, owner);
    this.nodes.set(id, encodePayload({ id, url: `http://127.0.0.1:1/${id}`, zone: 'default', weight: 100, version: 't', startedAt: new Date(0).toISOString() }));
    this.#fire();
  }

  drop(id: string): void {
    this.nodes.delete(id);
    this.owners.delete(id);
    this.#fire();
  }

  /** The ensemble expired `sessionId`: its ephemeral nodes go. */
  expire(sessionId: string): void {
    for (const [id, owner] of this.owners) if (owner === sessionId) this.drop(id);
  }

  #fire(): void {
    const ws = this.#watchers;
    this.#watchers = [];
    // ZooKeeper only delivers watch events over a connected session.
    if (this.state.kind === 'connected') for (const w of ws) w({ type: 'CHILDREN', path: FAKE_DIR });
    else this.#watchers = ws;
  }

  getChildren(_path: string, watcher?: ZkWatcher): Promise<string[]> {
    this.#connected();
    if (watcher) this.#watchers.push(watcher);
    return Promise.resolve([...this.nodes.keys()]);
  }

  #stat(id: string): NodeStat | null {
    const data = this.nodes.get(id);
    return data === undefined ? null : { version: 0, ephemeralOwner: this.owners.get(id) ?? '0', dataLength: data.length };
  }

  #connected(): string {
    if (this.state.kind !== 'connected') throw new SidecarError(ErrorCode.ZK_CONNECTION_LOSS, 'not connected');
    return this.state.sessionId;
  }

  getData(path: string, watcher?: ZkWatcher): Promise<{ data: Buffer; stat: NodeStat }> {
    const id = path.slice(FAKE_DIR.length + 1);
    if (watcher) this.#watchers.push(watcher);
    const data = this.nodes.get(id);
    if (data === undefined) return Promise.reject(new SidecarError(ErrorCode.ZK_NO_NODE, 'no node'));
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
    this.nodes.set(id, data);
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
    this.#fire();
    return Promise.resolve(this.#stat(id)!);
  }
}
