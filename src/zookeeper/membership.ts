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
  /**
   * Replicas kept in the set although their znodes are gone, because ZooKeeper has just come back from an
   * outage (see MembershipOptions.settleMs). Non-empty only while `stale`.
   */
  readonly held: readonly string[];
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
  /**
   * After our session reconnects from an outage, removals are believed only this long later. An outage of
   * the ensemble can expire every sidecar's session at once (the resumed leader does so within about a
   * session timeout); their znodes vanish together and come back as the registrars re-register (within
   * their registerJitterMs). Believing the gap would route to a shrunken
   * or empty set for that long; a replica that really died meanwhile is covered by passive ejection, as
   * during the outage itself.
   */
  readonly settleMs: number;
}

/**
 * Watches replicas/ and publishes snapshots of the live set. Fail static: losing ZooKeeper never empties
 * the set; it is kept and marked stale. An empty set is believed only when read over a connected session,
 * and removals only once the settle window after an outage has passed.
 */
export class Membership extends EventEmitter<MembershipEvents> {
  readonly #zk: ZkApi;
  readonly #opts: MembershipOptions;
  readonly #reconciler: Reconciler;
  #snapshot: MembershipSnapshot = { replicas: [], stale: true, readAt: 0, held: [] };
  #badSeen = new Map<string, string>(); // znode -> reason last reported, so one bad node warns once per change
  #dirReady: string | undefined;
  #started = false;
  #connectedOnce = false;
  #outage = false; // our session left `connected` after having been connected
  #settleUntil = 0; // epoch ms; removals read before this are not believed yet

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

  // The children and data watches are one-shot: every event re-reads and re-arms them. The data watch is how a
  // router learns that a replica is draining (payload state) before its node goes.
  readonly #watcher = (): void => this.#reconciler.kick();

  readonly #onConnected = (): void => {
    if (this.#outage) this.#settleUntil = Date.now() + this.#opts.settleMs;
    this.#outage = false;
    this.#connectedOnce = true;
    this.#reconciler.kick();
  };

  readonly #onSession = (): void => {
    this.#dirReady = undefined;
  };

  readonly #onState = (state: SessionState): void => {
    if (state.kind === 'connected') return;
    if (this.#connectedOnce) this.#outage = true;
    this.#markStale();
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
    this.#publish(this.#settle(replicas, Date.now()));
  }

  /** Within the settle window, replicas missing from what was read stay in the set (held, stale). */
  #settle(read: ReplicaPayload[], now: number): MembershipSnapshot {
    if (now >= this.#settleUntil) return { replicas: read, stale: false, readAt: now, held: [] };
    const ids = new Set(read.map((r) => r.id));
    const kept = this.#snapshot.replicas.filter((r) => !ids.has(r.id));
    // Not "settled early" when all are present: the resumed leader may still expire sessions a moment later.
    if (kept.length === 0) return { replicas: read, stale: false, readAt: now, held: [] };
    // Look again when the window closes: what is still missing then is believed gone.
    this.#reconciler.kick(this.#settleUntil - now);
    const replicas = [...read, ...kept].sort((a, b) => a.id.localeCompare(b.id));
    return { replicas, stale: true, readAt: now, held: kept.map((r) => r.id) };
  }

  async #readOne(name: string): Promise<ReplicaPayload | undefined> {
    let data: Buffer;
    try {
      ({ data } = await this.#zk.getData(`${this.#opts.dir}/${name}`, this.#watcher));
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
    if (prev.stale !== next.stale || prev.held.join() !== next.held.join() || JSON.stringify(prev.replicas) !== JSON.stringify(next.replicas)) {
      this.emit('snapshot', next);
    }
  }
}
