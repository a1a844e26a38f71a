import { EventEmitter } from 'node:events';
import type { BackoffPolicy } from '../backoff.ts';
import { ErrorCode, SidecarError, isSidecarError } from '../errors.ts';
import { Reconciler } from '../reconciler.ts';
import type { SessionState, ZkApi } from './api.ts';
import { decodePayload, type ReplicaPayload } from './payload.ts';

export interface MembershipSnapshot {
  /** Live replicas, sorted by id. */
  readonly replicas: readonly ReplicaPayload[];
  /** True when this set could not be confirmed with a connected session (fail static). */
  readonly stale: boolean;
  /** When the set was last read from ZooKeeper (epoch ms); 0 before the first read. */
  readonly readAt: number;
}

export interface MembershipEvents {
  snapshot: [MembershipSnapshot];
  /** A replica znode whose payload does not parse; it is left out of the set. */
  badPayload: [SidecarError];
  /** Reading the set failed; the last known set stays in force and the read is retried. */
  error: [{ error: SidecarError; retryInMs: number }];
}

export interface MembershipOptions {
  readonly dir: string;
  readonly retry: BackoffPolicy;
}

/**
 * Watches replicas/ and publishes snapshots of the live set. Fail static: losing ZooKeeper never empties
 * the set; it is kept and marked stale. An empty set is believed only when read over a connected session.
 */
export class Membership extends EventEmitter<MembershipEvents> {
  readonly #zk: ZkApi;
  readonly #opts: MembershipOptions;
  readonly #reconciler: Reconciler;
  #snapshot: MembershipSnapshot = { replicas: [], stale: true, readAt: 0 };
  #badSeen = new Map<string, string>(); // znode -> reason last reported, so one bad node warns once per change
  #dirReady: string | undefined;
  #started = false;

  constructor(zk: ZkApi, opts: MembershipOptions) {
    super();
    this.#zk = zk;
    this.#opts = opts;
    this.#reconciler = new Reconciler(
      () => this.#refresh(),
      opts.retry,
      (err, retryInMs) => {
        const error = isSidecarError(err) ? err : new SidecarError(ErrorCode.ZK_ERROR, 'membership read failed', { cause: err });
        this.#markStale();
        this.emit('error', { error, retryInMs });
      },
    );
  }

  get snapshot(): MembershipSnapshot {
    return this.#snapshot;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#zk.on('connected', this.#onConnected);
    this.#zk.on('session', this.#onSession);
    this.#zk.on('state', this.#onState);
    if (this.#zk.state.kind === 'connected') this.#reconciler.kick();
  }

  close(): void {
    this.#reconciler.close();
    this.#zk.off('connected', this.#onConnected);
    this.#zk.off('session', this.#onSession);
    this.#zk.off('state', this.#onState);
  }

  /** Resolves when no read is in flight (tests). */
  idle(): Promise<void> {
    return this.#reconciler.idle();
  }

  // The children watch is one-shot: every event re-reads and re-arms it.
  readonly #watcher = (): void => this.#reconciler.kick();

  readonly #onConnected = (): void => this.#reconciler.kick();

  readonly #onSession = (): void => {
    this.#dirReady = undefined;
  };

  readonly #onState = (state: SessionState): void => {
    if (state.kind !== 'connected') this.#markStale();
  };

  async #refresh(): Promise<void> {
    const state = this.#zk.state;
    if (state.kind !== 'connected') return;
    if (this.#dirReady !== state.sessionId) {
      await this.#zk.mkdirp(this.#opts.dir);
      this.#dirReady = state.sessionId;
    }
    const names = await this.#zk.getChildren(this.#opts.dir, this.#watcher);
    const read = await Promise.all(names.map((name) => this.#readOne(name)));
    const replicas = read.filter((r): r is ReplicaPayload => r !== undefined).sort((a, b) => a.id.localeCompare(b.id));
    for (const name of this.#badSeen.keys()) if (!names.includes(name)) this.#badSeen.delete(name);
    // Believe the result only if the same session is still connected: otherwise it may be half a picture.
    const now = this.#zk.state;
    if (now.kind !== 'connected' || now.sessionId !== state.sessionId) {
      this.#markStale();
      return;
    }
    this.#publish({ replicas, stale: false, readAt: Date.now() });
  }

  async #readOne(name: string): Promise<ReplicaPayload | undefined> {
    let data: Buffer;
    try {
      ({ data } = await this.#zk.getData(`${this.#opts.dir}/${name}`));
    } catch (err) {
      if (isSidecarError(err, ErrorCode.ZK_NO_NODE)) return undefined; // left between list and read
      throw err;
    }
    try {
      const payload = decodePayload(name, data);
      this.#badSeen.delete(name);
      return payload;
    } catch (err) {
      const error = err as SidecarError;
      const reason = String(error.details.reason);
      if (this.#badSeen.get(name) !== reason) {
        this.#badSeen.set(name, reason);
        this.emit('badPayload', error);
      }
      return undefined;
    }
  }

  #markStale(): void {
    if (!this.#snapshot.stale) this.#publish({ ...this.#snapshot, stale: true });
  }

  #publish(next: MembershipSnapshot): void {
    const prev = this.#snapshot;
    this.#snapshot = next;
    if (prev.stale !== next.stale || JSON.stringify(prev.replicas) !== JSON.stringify(next.replicas)) {
      this.emit('snapshot', next);
    }
  }
}
