import { ErrorCode, isSidecarError, type SidecarError } from '../errors.ts';
import type { WatchEvent, ZkApi } from './api.ts';
import { compareIds, decodePayload, type ReplicaPayload } from './payload.ts';

interface Entry {
  /** Identifies one incarnation of the znode: a replica that registers again after an expiry gets a new one. */
  readonly czxid: string;
  /** Data version of what was decoded: an unchanged node keeps its payload object (no decode, no garbage). */
  readonly version: number;
  /** undefined: the payload is bad (reported through onBadPayload) and left out of the set. */
  readonly payload: ReplicaPayload | undefined;
}

export interface ChildrenCacheHooks {
  /** Something changed in ZooKeeper (a watch fired): sync() should run again. */
  readonly onDirty: () => void;
  readonly onBadPayload: (err: SidecarError) => void;
}

/** Reads issued by one sync(), for metrics and the scale bench. */
export interface SyncReads {
  readonly children: number;
  readonly data: number;
}

/**
 * The payloads under one directory, kept in step with ZooKeeper the way Apache Curator's PathChildrenCache
 * does, so that one change costs one or two reads instead of a read of every child:
 * - the children watch marks the listing dirty; a new listing reads only the names not cached yet and drops
 *   the ones that left;
 * - every cached child carries a one-shot data watch (armed by the getData that read it); when it fires,
 *   that one child is read again (a weight or drain change, or a delete — possibly followed by a create
 *   under the same name, which shows up as a new czxid);
 * - invalidateAll() (a new session: the data watches died with the old one) re-reads everything once.
 * Not safe for concurrent sync() calls: the owner (Membership's Reconciler) runs them one at a time.
 */
export class ChildrenCache {
  readonly #zk: ZkApi;
  readonly #dir: string;
  readonly #hooks: ChildrenCacheHooks;
  readonly #entries = new Map<string, Entry>();
  #names: string[] = []; // the last listing, sorted as the snapshot is
  #listDirty = true;
  #allDirty = true;
  readonly #dirty = new Set<string>(); // children whose data watch fired since they were last read
  readonly #badSeen = new Map<string, string>(); // child -> reason last reported, so one bad node warns once per change

  constructor(zk: ZkApi, dir: string, hooks: ChildrenCacheHooks) {
    this.#zk = zk;
    this.#dir = dir;
    this.#hooks = hooks;
  }

  /** A new session: every watch is gone, so list and read everything once more. */
  invalidateAll(): void {
    this.#listDirty = true;
    this.#allDirty = true;
  }

  /** List the children again (cheap: one read); payloads are read only for names not cached. */
  invalidateList(): void {
    this.#listDirty = true;
  }

  // One function for every watch: the client library keeps one registration per path and function.
  readonly #onChildren = (): void => {
    this.#listDirty = true;
    this.#hooks.onDirty();
  };

  readonly #onData = (ev: WatchEvent): void => {
    const name = ev.path.slice(ev.path.lastIndexOf('/') + 1);
    this.#dirty.add(name);
    // Deleted: the listing decides whether it is gone or back already (then it is read, being dirty).
    if (ev.type === 'NODE_DELETED') this.#listDirty = true;
    this.#hooks.onDirty();
  };

  /** Brings the cache up to date and returns the valid payloads, sorted by id. Throws on a failed read. */
  async sync(): Promise<{ replicas: ReplicaPayload[]; reads: SyncReads }> {
    let children = 0;
    if (this.#listDirty) {
      this.#listDirty = false;
      try {
        children++;
        const names = await this.#zk.getChildren(this.#dir, this.#onChildren);
        this.#names = names.sort(compareIds);
      } catch (err) {
        this.#listDirty = true;
        throw err;
      }
      const present = new Set(this.#names);
      for (const name of this.#entries.keys()) if (!present.has(name)) this.#entries.delete(name);
      for (const name of this.#badSeen.keys()) if (!present.has(name)) this.#badSeen.delete(name);
      for (const name of this.#dirty) if (!present.has(name)) this.#dirty.delete(name);
    }
    const all = this.#allDirty;
    const toRead = this.#names.filter((n) => all || this.#dirty.has(n) || !this.#entries.has(n));
    this.#allDirty = false;
    for (const n of toRead) this.#dirty.delete(n);
    try {
      await Promise.all(toRead.map((name) => this.#readOne(name)));
    } catch (err) {
      for (const n of toRead) this.#dirty.add(n);
      throw err;
    }
    const replicas: ReplicaPayload[] = [];
    for (const name of this.#names) {
      const p = this.#entries.get(name)?.payload;
      if (p !== undefined) replicas.push(p);
    }
    return { replicas, reads: { children, data: toRead.length } };
  }

  async #readOne(name: string): Promise<void> {
    let got: Awaited<ReturnType<ZkApi['getData']>>;
    try {
      got = await this.#zk.getData(`${this.#dir}/${name}`, this.#onData);
    } catch (err) {
      if (!isSidecarError(err, ErrorCode.ZK_NO_NODE)) throw err;
      // Left between listing and read: no watch was set; the children watch reports a comeback.
      this.#entries.delete(name);
      return;
    }
    const { data, stat } = got;
    const prev = this.#entries.get(name);
    if (prev !== undefined && prev.czxid === stat.czxid && prev.version === stat.version) return;
    try {
      const payload = decodePayload(name, data);
      this.#badSeen.delete(name);
      this.#entries.set(name, { czxid: stat.czxid, version: stat.version, payload });
    } catch (err) {
      const error = err as SidecarError;
      const reason = String(error.details.reason);
      this.#entries.set(name, { czxid: stat.czxid, version: stat.version, payload: undefined });
      if (this.#badSeen.get(name) !== reason) {
        this.#badSeen.set(name, reason);
        this.#hooks.onBadPayload(error);
      }
    }
  }
}
